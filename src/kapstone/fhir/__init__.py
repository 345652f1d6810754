"""The FHIR R4 endpoints: questionnaires out, questionnaire responses in, scores as
Observations out."""
