"""Sample data the project generates itself (synthetic product images, later sensors)."""
