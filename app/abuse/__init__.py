"""Abuse protection for the public form intake: rate limits, the per-phone cap, honeypots and
per-source CORS (README "Abuse protection"). Allowed countries and number types live in
app.phones, the one place numbers are judged."""
