"""Every automation name (objectName) of the app, in one place.

GUI automation drives the app by these names; docs/automation.md lists them and a test keeps
the two in step. Renaming one is a breaking change.
"""

from __future__ import annotations

# Main window
MAIN_WINDOW = "mainWindow"
CLOCK_BANNER = "clockBanner"
NEW_PATIENT_BUTTON = "newPatientButton"
NEW_EPISODE_BUTTON = "newEpisodeButton"
REFRESH_BUTTON = "refreshButton"
MAIN_SPLITTER = "mainSplitter"
STATUS_DATABASE_LABEL = "statusDatabaseLabel"
STATUS_USER_LABEL = "statusUserLabel"
STATUS_COUNT_LABEL = "statusCountLabel"

# Worklist
WORKLIST_PANEL = "worklistPanel"
WORKLIST_TABLE = "worklistTable"
WORKLIST_SEARCH = "worklistSearch"
WORKLIST_STAGE_FILTER = "worklistStageFilter"
WORKLIST_STATUS_FILTER = "worklistStatusFilter"
WORKLIST_OPEN_BUTTON = "worklistOpenButton"

# Episode view
EPISODE_VIEW = "episodeView"
EPISODE_TABS = "episodeTabs"
EPISODE_EMPTY_LABEL = "episodeEmptyLabel"
EPISODE_HEADER_LABEL = "episodeHeaderLabel"
EPISODE_DETAILS_LABEL = "episodeDetailsLabel"
NEXT_ACTION_LABEL = "nextActionLabel"
STAGE_LIST = "stageList"
MILESTONE_LIST = "milestoneList"
MARK_DONE_BUTTON = "markDoneButton"
MARK_SKIPPED_BUTTON = "markSkippedButton"
UNDO_MARK_BUTTON = "undoMarkButton"
HISTORY_LIST = "historyList"

# Patient dialog
PATIENT_DIALOG = "patientDialog"
PATIENT_MRN_EDIT = "patientMrnEdit"
PATIENT_FAMILY_NAME_EDIT = "patientFamilyNameEdit"
PATIENT_GIVEN_NAME_EDIT = "patientGivenNameEdit"
PATIENT_BIRTH_DATE_EDIT = "patientBirthDateEdit"
PATIENT_SAVE_BUTTON = "patientSaveButton"
PATIENT_CANCEL_BUTTON = "patientCancelButton"
PATIENT_MRN_ERROR = "patientMrnError"
PATIENT_FAMILY_NAME_ERROR = "patientFamilyNameError"
PATIENT_GIVEN_NAME_ERROR = "patientGivenNameError"
PATIENT_BIRTH_DATE_ERROR = "patientBirthDateError"

# Episode dialog
EPISODE_DIALOG = "episodeDialog"
EPISODE_PATIENT_COMBO = "episodePatientCombo"
EPISODE_INDICATION_COMBO = "episodeIndicationCombo"
EPISODE_DRUG_COMBO = "episodeDrugCombo"
EPISODE_PUMP_MODEL_COMBO = "episodePumpModelCombo"
EPISODE_PLANNED_DATE_EDIT = "episodePlannedDateEdit"
EPISODE_SURGEON_EDIT = "episodeSurgeonEdit"
EPISODE_SETTING_COMBO = "episodeSettingCombo"
EPISODE_SAVE_BUTTON = "episodeSaveButton"
EPISODE_CANCEL_BUTTON = "episodeCancelButton"
EPISODE_PATIENT_ERROR = "episodePatientError"
EPISODE_INDICATION_ERROR = "episodeIndicationError"
EPISODE_DRUG_ERROR = "episodeDrugError"
EPISODE_PUMP_MODEL_ERROR = "episodePumpModelError"
EPISODE_PLANNED_DATE_ERROR = "episodePlannedDateError"
EPISODE_SURGEON_ERROR = "episodeSurgeonError"
EPISODE_SETTING_ERROR = "episodeSettingError"

# Mark-done dialog
DONE_DIALOG = "doneDialog"
DONE_AT_EDIT = "doneAtEdit"
DONE_NOTE_EDIT = "doneNoteEdit"
DONE_SAVE_BUTTON = "doneSaveButton"
DONE_CANCEL_BUTTON = "doneCancelButton"
DONE_AT_ERROR = "doneAtError"

# Skip dialog
SKIP_DIALOG = "skipDialog"
SKIP_REASON_EDIT = "skipReasonEdit"
SKIP_SAVE_BUTTON = "skipSaveButton"
SKIP_CANCEL_BUTTON = "skipCancelButton"
SKIP_REASON_ERROR = "skipReasonError"


def all_names() -> dict[str, str]:
    """Constant name -> objectName, for the documentation test."""
    return {key: value for key, value in globals().items() if key.isupper()}
