"""The team's hand-labelled evaluation sets (retrieval questions, semantic-cache pairs) and their scoring."""
