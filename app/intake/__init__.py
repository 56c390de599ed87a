"""Public form intake: form-tool webhooks in, leads out."""
