"""Admin forms for voices: the clone upload (many files in one field) and the voice edit."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import QuerySet

from anvil_voice.accounts.models import Organization
from voices import conf
from voices.models import DEFAULT_SAMPLE_SENTENCE, Voice


def _text_labels(labels: Any) -> dict[str, str]:
    labels = labels or {}
    if not isinstance(labels, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in labels.items()
    ):
        raise forms.ValidationError('Give a JSON object of text labels, e.g. {"language": "en"}.')
    for text in (*labels, *labels.values()):
        # What every CharField does: PostgreSQL cannot store NUL, so it is a form error, not a 500.
        ProhibitNullCharactersValidator()(text)
    return labels


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Django's documented pattern for `<input type=file multiple>`: a list of files."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "audio/*"}))
        # Empty files are judged (and named) by the clone service like any other bad file.
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class VoiceCloneForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none())
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=500, required=False, widget=forms.Textarea)
    labels = forms.JSONField(
        required=False,
        initial=dict,
        help_text='Text labels as JSON, e.g. {"language": "en", "accent": "british"}.',
    )
    sample_sentence = forms.CharField(
        max_length=conf.PREVIEW_TEXT_MAX_CHARS, initial=DEFAULT_SAMPLE_SENTENCE
    )
    samples = MultipleFileField(
        help_text=(
            f"1 to {conf.MAX_SAMPLES} recordings of one speaker (WAV, MP3, FLAC, OGG, M4A/AAC, "
            "WebM), together at least 10 seconds of clear speech."
        )
    )

    def __init__(self, *args: Any, organizations: QuerySet[Organization], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["organization"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = organizations
        if organizations.count() == 1:
            field.initial = organizations.first()

    def clean_labels(self) -> dict[str, str]:
        return _text_labels(self.cleaned_data.get("labels"))


class VoiceChangeForm(forms.ModelForm):
    class Meta:
        model = Voice
        fields = ["name", "description", "labels", "sample_sentence"]

    def clean_labels(self) -> dict[str, str]:
        return _text_labels(self.cleaned_data.get("labels"))
