"""``bridge lab``: a local web app (Gradio) over a run directory, and a try-it tab."""
