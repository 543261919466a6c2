"""The back-office pages, one module per page (issue 15): ``queue``, ``request_page``, ``documents``, ``actions``
(the request page's forms and the professionals' task links), ``letters`` (previews), ``filters`` (template filters); what they share is ``..page_support``."""
from . import actions, documents, filters, letters, queue, request_page  # noqa: F401  (registers the routes)
from .actions import (ANSWER_FILES_KEY, COMMON_FIELDS, SUCCESS_MESSAGES, action_POST, task_resend_POST,  # noqa: F401
                      task_revoke_POST)
from .documents import DOCUMENT_CSP, MAX_VIEWED, VIEWED_SESSION_KEY, document_GET, document_page_GET  # noqa: F401
from .filters import (dict_without, label_option, paris_date, paris_datetime, policy_warning_text,  # noqa: F401
                      pro_option, staff_option, status_option)
from .queue import (MAX_SAVED_SEARCHES, SEARCH_SESSION_KEY, filters_from_request, queue_GET,  # noqa: F401
                    saved_search, search_POST)
from .request_page import FORM_RULES, render_request_page, request_GET  # noqa: F401
