"""The monitoring web page for CRO staff: static assets shipped in the package (no CDN),
talking to the same role-checked API as every other client."""
