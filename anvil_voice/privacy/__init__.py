"""Finding and removing personal data (card numbers, national ids, bank numbers, e-mail
addresses) in what a call leaves behind: transcripts as speech-to-text writes them, and the
recording. Pure Python: no Django, so the product decides where it applies (issue 15 item 17)."""
