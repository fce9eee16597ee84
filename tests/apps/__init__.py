"""Apps served by real uvicorn in end-to-end tests (imported as ``apps.<module>:app``)."""
