import pytest

from scripts.engine.agent import speakable_chunks, split_speakable


async def _stream(*parts: str):
    for part in parts:
        yield part


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("Hello there. How are you? Great!", ["Hello there.", "How are you?", "Great!"]),
        ("Dr. Smith will call at 3.30 today.", ["Dr. Smith will call at 3.30 today."]),
        ("Wait... really?! Yes.", ["Wait...", "really?!", "Yes."]),
        ("No trailing punctuation", ["No trailing punctuation"]),
        ("", []),
    ],
)
def test_it_splits_finished_text_into_sentences(text, pieces):
    assert split_speakable(text) == pieces


def test_it_splits_an_overlong_sentence_at_a_clause():
    text = "Our plan covers installation, maintenance and monitoring, and you pay nothing upfront."

    assert split_speakable(text, max_chars=60) == [
        "Our plan covers installation, maintenance and monitoring,",
        "and you pay nothing upfront.",
    ]


async def test_it_releases_each_sentence_as_soon_as_it_is_complete():
    released: list[str] = []
    stream = speakable_chunks(_stream("Hi Ja", "ne. This is", " Anna. How", " are you"))

    async for piece in stream:
        released.append(piece)
        if piece == "Hi Jane.":
            # The first sentence is out before the rest of the reply has even arrived.
            assert released == ["Hi Jane."]

    assert released == ["Hi Jane.", "This is Anna.", "How are you"]


async def test_it_releases_long_unpunctuated_speech_at_clause_boundaries():
    words = "so basically what we do is, we install panels on your roof at no cost to you"
    tokens = [f"{word} " for word in words.split()]
    pieces = [piece async for piece in speakable_chunks(_stream(*tokens), max_chars=40)]

    assert pieces[0] == "so basically what we do is,"
    assert all(len(piece) <= 40 for piece in pieces)
    assert " ".join(pieces).split() == words.split()
