"""One generator per catalog kind (snapshot KINDS): how each creates, drops and alters itself."""
