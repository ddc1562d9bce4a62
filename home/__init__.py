"""Home use under a clinician's prescription (outside the control core): signed
prescriptions (`signing`), the device's trust configuration and the checks before a session
(`trust`), treatment courses (`course`), the session history (`history`), the glue a session
runner uses (`session`), and the clinician's report and FHIR export (`report`, `fhir`).

Needs the `home` extra (cryptography); core/ never imports this package.
"""
