"""bleak backends: the default (BlueZ on a real hub) or bumble (virtual wearables)."""
