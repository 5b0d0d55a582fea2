"""Import labelled drawings from other tools: source files, one reader per format, checks and writing."""
