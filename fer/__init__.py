"""fer: facial emotion recognition on FER2013 with configurable CNNs, Hydra and Lightning."""

__version__ = "0.1.0"
