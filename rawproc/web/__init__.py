"""Web pages for people: sign-in, the gallery with uploads, and one page per asset."""
