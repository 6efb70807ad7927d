"""The built-in study journey: our questions (`questions/`), the reading list and our notes
(`corpus/`). In a checkout these are links to the project's own folders; a wheel carries copies.
`n00bqa init PATH` copies them into a study root of the learner's own; without any root, read-only
commands read them here (see n00bqa.study).
"""
