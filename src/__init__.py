"""Fine-tune BERT sentiment classifiers and share them on the Hugging Face Hub."""
