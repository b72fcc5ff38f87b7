"""Featurizers and classifiers behind small interfaces. torch and transformers are imported
lazily inside this package only, so the application starts fast."""
