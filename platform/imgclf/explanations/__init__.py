"""Why a model answered: each model kind explains itself in its own terms (Grad-CAM for VGG16, the voting
neighbours for KNN, the decision path for a tree)."""
