"""Exports: who may export what (`scope`), what each kind reads (`rows`) and the signed
links their files are fetched from (`links`)."""
