"""Business logic: every write to assets goes through these functions (HackSoft styleguide)."""
