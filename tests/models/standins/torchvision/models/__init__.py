"""Stand-in: importable and empty (the released repositories import it and use none of it)."""
