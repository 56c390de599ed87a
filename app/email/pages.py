"""The unsubscribe pages: plain HTML for the person who clicked, not the integrator API."""

from html import escape

from fastapi.responses import HTMLResponse

# The token in the URL is the lead's key to this page: keep it out of caches, Referer
# headers and search engines.
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def page(title: str, content: str, status_code: int = 200) -> HTMLResponse:
    document = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1.2rem}}</style>
</head>
<body>
<h1>{escape(title)}</h1>
{content}
</body>
</html>
"""
    return HTMLResponse(document, status_code=status_code, headers=HEADERS)


def confirm(company: str) -> HTMLResponse:
    """A form, not an action: mail scanners open links, and only a POST unsubscribes (RFC 8058).
    It posts the same body as a mail client's one-click unsubscribe."""
    return page(
        f"Unsubscribe from {company}?",
        f"""<p>You will receive no more follow-up emails, texts or calls from {escape(company)}.</p>
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>""",
    )


def done(company: str) -> HTMLResponse:
    return page(
        "You are unsubscribed",
        f"<p>{escape(company)} will not contact you again about your request.</p>",
    )


def invalid_link() -> HTMLResponse:
    return page(
        "This link is not valid",
        "<p>Please use the unsubscribe link from the most recent email you received.</p>",
        status_code=404,
    )
