"""Bedside monitoring: vital signs in, from hand entry or HL7 v2 over MLLP."""
