"""The GAN stage: nets and objectives, the training session of S seeds, training and step-size
tuning jobs, checkpoints, and scoring the runs' generators (FID/KID, mode metrics).

Imports nothing itself: the workflow reads `ganopt.gan.netconfig` while parsing, without torch."""
