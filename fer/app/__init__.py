"""`fer-app`: a local web app (Gradio) over the same Predictor and video pipeline as the CLIs."""
