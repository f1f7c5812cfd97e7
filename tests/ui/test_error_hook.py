from pathway_app.domain.errors import StorageError
from pathway_app.ui.error_hook import message_for


def test_domain_errors_are_shown_as_written():
    assert message_for(StorageError("The database is busy.")) == "The database is busy."


def test_other_errors_show_their_type_but_never_their_text(qapp):
    text = message_for(ValueError("Müller, Anna MRN 123 birth 1950-01-01"))
    assert "ValueError" in text and "not saved" in text
    assert "Müller" not in text and "123" not in text
