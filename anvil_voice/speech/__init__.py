"""Speech providers (TTS, STT, voice cloning) behind small protocols, chosen by settings."""
