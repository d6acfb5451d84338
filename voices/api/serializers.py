"""Voice resources on the wire (camelCase, strict writes)."""

from __future__ import annotations

from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from rest_framework import serializers

from anvil_voice.api.serializers import (
    BoundedJSONField,
    CamelCaseModelSerializer,
    CamelCaseSerializer,
)
from voices import conf
from voices.models import Voice, VoiceSample
from voices.samples import sample_count_problem

MAX_LABELS = 10
MAX_LABEL_KEY_CHARS = 50
MAX_LABEL_VALUE_CHARS = 100


class VoiceSampleSerializer(CamelCaseModelSerializer):
    class Meta:
        model = VoiceSample
        fields = [
            "id",
            "original_name",
            "format",
            "duration_seconds",
            "sample_rate",
            "channels",
            "size_bytes",
            "sha256",
            "created_at",
        ]
        read_only_fields = fields


class VoiceSerializer(CamelCaseModelSerializer):
    # Annotated by selectors.voice_list(): counted in the same query as the page.
    sample_count = serializers.IntegerField(read_only=True)
    sample_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Voice
        fields = [
            "id",
            "name",
            "description",
            "labels",
            "provider",
            "provider_voice_id",
            "status",
            "failure_reason",
            "is_clone",
            "provider_note",
            "sample_sentence",
            "sample_count",
            "sample_seconds",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_sample_seconds(self, voice: Voice) -> float:
        return round(float(getattr(voice, "sample_seconds", None) or 0.0), 2)


class VoiceDetailSerializer(VoiceSerializer):
    samples = VoiceSampleSerializer(many=True, read_only=True)

    class Meta(VoiceSerializer.Meta):
        fields = [*VoiceSerializer.Meta.fields, "samples"]
        read_only_fields = fields


prohibit_nul = ProhibitNullCharactersValidator()


class VoiceCloneSerializer(CamelCaseSerializer):
    """multipart/form-data: `samples` repeated once per file; `labels` a JSON object string."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    labels = BoundedJSONField(
        required=False,
        help_text='A JSON object of text labels, e.g. {"language": "en", "accent": "british"}.',
    )
    sample_sentence = serializers.CharField(
        max_length=conf.PREVIEW_TEXT_MAX_CHARS,
        required=False,
        help_text="The default preview text.",
    )
    samples = serializers.ListField(
        # Empty files are allowed here so the content check names them like any bad file.
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        default=list,
        help_text=f"1 to {conf.MAX_SAMPLES} audio files (WAV, MP3, FLAC, OGG, M4A/AAC, WebM).",
    )

    def validate_labels(self, labels: Any) -> dict[str, str]:
        message = (
            f'Must be a JSON object of at most {MAX_LABELS} text labels, e.g. {{"language": "en"}}.'
        )
        if not isinstance(labels, dict) or len(labels) > MAX_LABELS:
            raise serializers.ValidationError(message)
        cleaned: dict[str, str] = {}
        for key, value in labels.items():
            if not isinstance(value, str) or not key.strip():
                raise serializers.ValidationError(message)
            # The same refusal as every text field of the API: PostgreSQL cannot store NUL.
            prohibit_nul(key)
            prohibit_nul(value)
            if len(key) > MAX_LABEL_KEY_CHARS or len(value) > MAX_LABEL_VALUE_CHARS:
                raise serializers.ValidationError(
                    f"Label names are at most {MAX_LABEL_KEY_CHARS} characters and values at "
                    f"most {MAX_LABEL_VALUE_CHARS}."
                )
            cleaned[key.strip()] = value.strip()
        return cleaned

    def validate_samples(self, samples: list[Any]) -> list[Any]:
        # Counting is cheap and belongs with the other field errors; the content of each file
        # is checked by the service (the admin upload goes through it too).
        if problem := sample_count_problem(len(samples)):
            raise serializers.ValidationError(problem)
        return samples


class VoicePreviewRequestSerializer(CamelCaseSerializer):
    text = serializers.CharField(
        max_length=conf.PREVIEW_TEXT_MAX_CHARS,
        required=False,
        help_text="What to say; defaults to the voice's sample sentence.",
    )
    script_id = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="Speak this script's opening line, rendered for a sample contact.",
    )


class VoicePreviewSerializer(CamelCaseSerializer):
    """The answer to a preview: where to play it, for how long the link works."""

    id = serializers.IntegerField()
    voice_id = serializers.IntegerField()
    text = serializers.CharField()
    url = serializers.URLField(
        help_text="A presigned S3 URL that expires, or this API's authenticated audio route."
    )
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="When `url` stops working; null if it does not expire."
    )
    duration_seconds = serializers.FloatField()
    size_bytes = serializers.IntegerField()
    cached = serializers.BooleanField(help_text="True if this text was synthesised before.")
    created_at = serializers.DateTimeField()
