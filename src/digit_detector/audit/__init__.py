"""Label audit: cross-validated crop classifiers that rank boxes by how likely their label is wrong."""
