"""The PyTorch engine of clay-pipeline: Clay v0's masked autoencoder, its optimizer and schedule, and the
child-process protocol that `clay train --engine torch` drives. The TypeScript side owns the user (flags,
data, progress, checkpoints' folders); this package only computes."""
