"""Form payloads as the tools send them, written from each tool's public webhook docs."""

import json
import time
from typing import Any

from app.intake.fields import MAX_FIELDS, FormFields, extract_form_fields


def assert_contact(
    found: FormFields,
    *,
    phone: str | None,
    phone_field: str | None,
    first: str | None = None,
    last: str | None = None,
    full: str | None = None,
    email: str | None = None,
) -> None:
    assert (found.phone, found.phone_field) == (phone, phone_field)
    assert (found.first_name, found.last_name, found.full_name) == (first, last, full)
    assert found.email == email


# Well-known form tools ---------------------------------------------------------------------


def test_typeform_typed_answers_titled_by_the_definition() -> None:
    payload = {
        "event_id": "01HF6Z2B3K",
        "event_type": "form_response",
        "form_response": {
            "form_id": "lT4Z3j",
            "token": "a3a12ec67a1365927098a606107fac15",
            "landed_at": "2024-11-28T10:14:02Z",
            "submitted_at": "2024-11-28T10:15:00Z",
            "hidden": {"utm_source": "google", "gclid": "Cj0KCQ"},
            "definition": {
                "id": "lT4Z3j",
                "title": "Free quote",
                "fields": [
                    {"id": "Aa1", "ref": "first", "type": "short_text", "title": "First name"},
                    {"id": "Bb2", "ref": "last", "type": "short_text", "title": "Last name"},
                    {"id": "Cc3", "ref": "phone", "type": "phone_number", "title": "Best number?"},
                    {"id": "Dd4", "ref": "mail", "type": "email", "title": "Your email"},
                    {"id": "Ee5", "ref": "svc", "type": "multiple_choice", "title": "Service"},
                    {"id": "Ff6", "ref": "ok", "type": "yes_no", "title": "Call me now?"},
                ],
            },
            "answers": [
                {"type": "text", "text": "Jane", "field": {"id": "Aa1", "type": "short_text"}},
                {"type": "text", "text": "Doe", "field": {"id": "Bb2", "type": "short_text"}},
                {
                    "type": "phone_number",
                    "phone_number": "+15555550134",
                    "field": {"id": "Cc3", "type": "phone_number", "ref": "phone"},
                },
                {
                    "type": "email",
                    "email": "jane@example.com",
                    "field": {"id": "Dd4", "type": "email", "ref": "mail"},
                },
                {
                    "type": "choice",
                    "choice": {"label": "Roof repair"},
                    "field": {"id": "Ee5", "type": "multiple_choice", "ref": "svc"},
                },
                {"type": "boolean", "boolean": True, "field": {"id": "Ff6", "type": "yes_no"}},
            ],
        },
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="+15555550134",
        phone_field="Best number?",
        first="Jane",
        last="Doe",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["Service"] == "Roof repair"
    assert found.fields["Call me now?"] == "true"
    assert found.fields["utm_source"] == "google"
    assert found.fields["form_response.form_id"] == "lT4Z3j"


def test_jotform_webhook_unpacks_raw_request() -> None:
    raw_request = {
        "slug": "submit/241234567890/",
        "q3_name": {"first": "Jane", "last": "Doe"},
        "q4_email": "jane@example.com",
        "q5_phoneNumber": {"full": "(555) 555-0134"},
        "q6_typeA": "Kitchen remodel",
        "q7_services": ["Design", "Install"],
        "event_id": "1732788900000_241234567890_abc",
    }
    payload = {  # multipart fields
        "action": "",
        "webhookURL": "https://firstring.example/hooks/forms/jotform",
        "username": "acme",
        "formID": "241234567890",
        "type": "WEB",
        "formTitle": "Get a quote",
        "submissionID": "5912345678901234567",
        "ip": "203.0.113.9",
        "pretty": "Name:Jane Doe, E-mail:jane@example.com, Phone Number:(555) 555-0134",
        "rawRequest": json.dumps(raw_request),
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="(555) 555-0134",
        phone_field="q5_phoneNumber",
        first="Jane",
        last="Doe",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["q7_services"] == "Design, Install"
    assert found.fields["formTitle"] == "Get a quote"
    assert "rawRequest" not in found.fields


def test_jotform_direct_post_with_bracket_keys_and_area_code() -> None:
    payload = {
        "formID": "241234567890",
        "q4_name[first]": "Jane",
        "q4_name[last]": "Doe",
        "q3_phoneNumber[area]": "555",
        "q3_phoneNumber[phone]": "5550134",
        "q5_email": "jane@example.com",
        "q8_interests[]": ["Solar", "Battery"],
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="555 5550134",
        phone_field="q3_phoneNumber",
        first="Jane",
        last="Doe",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["q8_interests"] == "Solar, Battery"


def test_elementor_advanced_data_uses_titles() -> None:
    payload = {  # form-urlencoded, "Advanced Data" on
        "form[id]": "a1b2c3d",
        "form[name]": "Contact Form",
        "fields[name][id]": "name",
        "fields[name][type]": "text",
        "fields[name][title]": "Name",
        "fields[name][value]": "Jane Doe",
        "fields[name][raw_value]": "Jane Doe",
        "fields[name][required]": "1",
        "fields[email][id]": "email",
        "fields[email][type]": "email",
        "fields[email][title]": "Email",
        "fields[email][value]": "jane@example.com",
        "fields[field_3a1][id]": "field_3a1",
        "fields[field_3a1][type]": "tel",
        "fields[field_3a1][title]": "Mobile",
        "fields[field_3a1][value]": "0412 345 678",
        "fields[message][id]": "message",
        "fields[message][type]": "textarea",
        "fields[message][title]": "Message",
        "fields[message][value]": "Please call after 5",
        "meta[date][title]": "Date",
        "meta[date][value]": "November 28, 2024",
        "meta[page_url][title]": "Page URL",
        "meta[page_url][value]": "https://acme.example/contact/",
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="0412 345 678",
        phone_field="Mobile",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["Message"] == "Please call after 5"
    assert found.fields["Page URL"] == "https://acme.example/contact/"
    assert found.fields["form.name"] == "Contact Form"


def test_facebook_lead_ads_field_data() -> None:
    payload = {  # Graph API /{leadgen_id}
        "created_time": "2024-11-28T10:15:00+0000",
        "id": "1234567890123456",
        "ad_id": "23851234567890123",
        "form_id": "987654321098765",
        "field_data": [
            {"name": "full_name", "values": ["Jane Doe"]},
            {"name": "email", "values": ["jane@example.com"]},
            {"name": "phone_number", "values": ["+15555550134"]},
            {"name": "city", "values": ["Austin"]},
            {"name": "when_do_you_want_to_start?", "values": ["Within a month"]},
        ],
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="+15555550134",
        phone_field="phone_number",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["when_do_you_want_to_start?"] == "Within a month"
    assert found.fields["ad_id"] == "23851234567890123"


def test_hubspot_form_submission_fields_list() -> None:
    payload = {
        "submittedAt": "1732788900000",
        "fields": [
            {"objectTypeId": "0-1", "name": "firstname", "value": "Jane"},
            {"objectTypeId": "0-1", "name": "lastname", "value": "Doe"},
            {"objectTypeId": "0-1", "name": "email", "value": "jane@example.com"},
            {"objectTypeId": "0-1", "name": "mobilephone", "value": "555-555-0134"},
            {"objectTypeId": "0-2", "name": "company", "value": "Acme Roofing"},
        ],
        "context": {"pageUri": "https://acme.example/quote", "pageName": "Quote"},
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="555-555-0134",
        phone_field="mobilephone",
        first="Jane",
        last="Doe",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["company"] == "Acme Roofing"
    assert found.fields["context.pageName"] == "Quote"


def test_hubspot_contact_properties_with_value_objects() -> None:
    payload = {
        "vid": 3701,
        "canonical-vid": 3701,
        "properties": {
            "firstname": {"value": "Jane", "versions": [{"value": "Jane", "source-type": "FORM"}]},
            "lastname": {"value": "Doe"},
            "phone": {"value": "(555) 555-0134"},
            "email": {"value": "jane@example.com"},
            "hs_lead_status": {"value": "NEW"},
        },
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="(555) 555-0134",
        phone_field="phone",
        first="Jane",
        last="Doe",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["hs_lead_status"] == "NEW"
    assert found.fields["vid"] == "3701"


def test_webflow_form_submission_ignores_the_form_name() -> None:
    payload = {
        "triggerType": "form_submission",
        "payload": {
            "name": "Contact Form",
            "siteId": "65427cf400e02b306eaa049c",
            "data": {
                "First Name": "Jane",
                "Last Name": "Doe",
                "Email": "jane@example.com",
                "Phone Number": "555.555.0134",
                "Budget": "$10k-$25k",
            },
            "submittedAt": "2024-11-28T10:15:00.000Z",
            "id": "6321a6ad4e2f1a4b1c2d3e4f",
            "formId": "65429eadebe8a9f3a30f62d0",
        },
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="555.555.0134",
        phone_field="Phone Number",
        first="Jane",
        last="Doe",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["Budget"] == "$10k-$25k"
    assert found.fields["payload.name"] == "Contact Form"


def test_unbounce_data_json_with_list_values() -> None:
    data = {
        "name": ["Jane Doe"],
        "email": ["jane@example.com"],
        "phone_number": ["555 555 0134"],
        "what_service_do_you_need?": ["Solar", "Battery"],
        "ip_address": ["203.0.113.9"],
        "time_submitted": ["10:15 AM UTC"],
    }
    payload = {  # form-urlencoded
        "page_id": "8a3c1d2e-0000-4f6b-9c1d-000000000000",
        "page_name": "Solar landing",
        "page_url": "https://unbouncepages.com/solar/",
        "variant": "a",
        "data.json": json.dumps(data),
        "data.xml": "<?xml version='1.0'?><form_data></form_data>",
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="555 555 0134",
        phone_field="phone_number",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["what_service_do_you_need?"] == "Solar, Battery"
    assert found.fields["page_name"] == "Solar landing"


def test_google_forms_apps_script_named_values() -> None:
    payload = {
        "namedValues": {
            "Timestamp": ["11/28/2024 10:15:00"],
            "First and last name": ["Jane Doe"],
            "Email address": ["jane@example.com"],
            "Mobile number": ["07700 900123"],
            "What do you need help with?": ["Boiler service"],
        },
        "range": {"columnStart": 1, "rowStart": 12},
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="07700 900123",
        phone_field="Mobile number",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["What do you need help with?"] == "Boiler service"
    assert found.fields["Timestamp"] == "11/28/2024 10:15:00"


def test_tally_fields_with_types_and_options() -> None:
    payload = {
        "eventId": "a4cb511e-d513-4fa5-baee-b815d718dfd1",
        "eventType": "FORM_RESPONSE",
        "createdAt": "2024-11-28T10:15:00.889Z",
        "data": {
            "responseId": "2wgx4n",
            "submissionId": "2wgx4n",
            "respondentId": "dwQKYm",
            "formId": "VwbNEw",
            "formName": "Book a call",
            "createdAt": "2024-11-28T10:15:00.000Z",
            "fields": [
                {
                    "key": "question_3E1Aqa",
                    "label": "First name",
                    "type": "INPUT_TEXT",
                    "value": "Jane",
                },
                {
                    "key": "question_w4v6Mb",
                    "label": "Last name",
                    "type": "INPUT_TEXT",
                    "value": "Doe",
                },
                {
                    "key": "question_nPXBzp",
                    "label": "How can we reach you?",
                    "type": "INPUT_PHONE_NUMBER",
                    "value": "+44 7700 900123",
                },
                {
                    "key": "question_mVGEg3",
                    "label": "Email",
                    "type": "INPUT_EMAIL",
                    "value": "jane@example.com",
                },
                {
                    "key": "question_3xqVNe",
                    "label": "Interested in",
                    "type": "MULTIPLE_CHOICE",
                    "value": ["5c6a0d0c"],
                    "options": [{"id": "5c6a0d0c", "text": "Solar"}, {"id": "9f1b", "text": "EV"}],
                },
            ],
        },
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="+44 7700 900123",
        phone_field="How can we reach you?",
        first="Jane",
        last="Doe",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["Interested in"] == "Solar"
    assert found.fields["data.formName"] == "Book a call"


def test_calendly_invitee_created_questions_and_answers() -> None:
    payload = {
        "created_at": "2024-11-28T10:15:00.000000Z",
        "created_by": "https://api.calendly.com/users/AAAAAAAAAAAAAAAA",
        "event": "invitee.created",
        "payload": {
            "email": "jane@example.com",
            "name": "Jane Doe",
            "first_name": None,
            "last_name": None,
            "status": "active",
            "timezone": "America/Chicago",
            "text_reminder_number": None,
            "uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/AB",
            "questions_and_answers": [
                {"answer": "+1 555-555-0134", "position": 0, "question": "Phone number"},
                {"answer": "Two storey house", "position": 1, "question": "Property type"},
            ],
            "scheduled_event": {"name": "15 Minute Consult", "start_time": "2024-12-02T15:00Z"},
            "tracking": {"utm_campaign": "winter", "utm_source": "facebook"},
        },
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="+1 555-555-0134",
        phone_field="Phone number",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["Property type"] == "Two storey house"
    assert found.fields["scheduled_event.name"] == "15 Minute Consult"
    assert found.fields["tracking.utm_source"] == "facebook"


def test_wufoo_fields_named_by_field_structure() -> None:
    structure = {
        "Fields": [
            {
                "Title": "Name",
                "Type": "shortname",
                "ID": "Field1",
                "SubFields": [
                    {"DefaultVal": "", "ID": "Field1", "Label": "First"},
                    {"DefaultVal": "", "ID": "Field2", "Label": "Last"},
                ],
            },
            {"Title": "Email", "Type": "email", "ID": "Field3"},
            {"Title": "Daytime number", "Type": "phone", "ID": "Field4"},
            {"Title": "Project details", "Type": "textarea", "ID": "Field5"},
        ]
    }
    payload = {  # form-urlencoded, "Include Field and Form Structures" on
        "FieldStructure": json.dumps(structure),
        "FormStructure": json.dumps({"Name": "Quote request", "Url": "quote-request"}),
        "Field1": "Jane",
        "Field2": "Doe",
        "Field3": "jane@example.com",
        "Field4": "5555550134",
        "Field5": "New deck",
        "EntryId": "17",
        "DateCreated": "2024-11-28 10:15:00",
        "IP": "203.0.113.9",
        "HandshakeKey": "",
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="5555550134",
        phone_field="Daytime number",
        first="Jane",
        last="Doe",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["Project details"] == "New deck"
    assert found.fields["EntryId"] == "17"
    assert "FieldStructure" not in found.fields


def test_formstack_with_sub_field_names() -> None:
    payload = {
        "FormID": "5012345",
        "UniqueID": "987654321",
        "name": {"first": "Jane", "last": "Doe"},
        "email": "jane@example.com",
        "phone": "(555) 555-0134",
        "how_did_you_hear_about_us": "Google",
        "HandshakeKey": "s3cr3t",
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="(555) 555-0134",
        phone_field="phone",
        first="Jane",
        last="Doe",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["how_did_you_hear_about_us"] == "Google"
    assert found.fields["name.first"] == "Jane"


def test_cognito_forms_entry() -> None:
    payload = {
        "Form": {"Id": "4", "InternalName": "RequestAQuote", "Name": "Request A Quote"},
        "Name": {"First": "Jane", "Last": "Doe", "FirstAndLast": "Jane Doe"},
        "Phone": "(555) 555-0134",
        "Email": "jane@example.com",
        "ServiceNeeded": "Gutters",
        "Entry": {
            "Number": 12,
            "DateSubmitted": "2024-11-28T10:15:00-06:00",
            "Status": "Submitted",
        },
        "Id": "4-12",
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="(555) 555-0134",
        phone_field="Phone",
        first="Jane",
        last="Doe",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["ServiceNeeded"] == "Gutters"
    assert found.fields["Entry.Number"] == "12"


def test_wpforms_numeric_ids_with_labels() -> None:
    payload = {
        "form_id": "118",
        "entry_id": "402",
        "fields": {
            "1": {
                "name": "Name",
                "value": "Jane Doe",
                "id": 1,
                "type": "name",
                "first": "Jane",
                "middle": "",
                "last": "Doe",
            },
            "2": {"name": "Email", "value": "jane@example.com", "id": 2, "type": "email"},
            "3": {"name": "Phone", "value": "(555) 555-0134", "id": 3, "type": "phone"},
            "4": {"name": "Comment or Message", "value": "Leaky tap", "id": 4, "type": "textarea"},
        },
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="(555) 555-0134",
        phone_field="Phone",
        first="Jane",
        last="Doe",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["Comment or Message"] == "Leaky tap"
    assert found.fields["form_id"] == "118"


def test_gravity_forms_numeric_ids_need_a_field_map() -> None:
    payload = {  # Webhooks Add-On, "All Fields"
        "id": "42",
        "form_id": "3",
        "date_created": "2024-11-28 16:15:00",
        "is_starred": 0,
        "ip": "203.0.113.9",
        "source_url": "https://acme.example/quote/",
        "status": "active",
        "1.3": "Jane",
        "1.6": "Doe",
        "2": "jane@example.com",
        "3": "(555) 555-0134",
        "4": "Kitchen remodel",
    }
    field_map = {"phone": "3", "first_name": "1.3", "last_name": "1.6"}
    found = extract_form_fields(payload, field_map)
    assert_contact(
        found,
        phone="(555) 555-0134",
        phone_field="3",
        first="Jane",
        last="Doe",
        full="Jane Doe",
        email="jane@example.com",  # found by its shape
    )
    assert found.fields["4"] == "Kitchen remodel"
    assert found.fields["is_starred"] == "0"


def test_contact_form_7_your_prefixes() -> None:
    payload = {
        "_wpcf7": "57",
        "_wpcf7_version": "5.9.8",
        "your-name": "Jane Doe",
        "your-email": "jane@example.com",
        "your-tel": "+61 412 345 678",
        "your-subject": "Quote",
        "your-message": "Two bedrooms to paint",
        "acceptance-privacy": "1",
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="+61 412 345 678",
        phone_field="your-tel",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["your-message"] == "Two bedrooms to paint"


def test_zapier_flat_dict_with_labels() -> None:
    payload = {
        "First Name": "Jane",
        "Last Name": "Doe",
        "Cell Phone": " 555 555 0134 ",
        "E-mail": "jane@example.com",
        "Lead Source": "Facebook Ads",
        "Zip": 78701,
        "Opted In": True,
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="555 555 0134",
        phone_field="Cell Phone",
        first="Jane",
        last="Doe",
        full="Jane Doe",
        email="jane@example.com",
    )
    assert found.fields["Zip"] == "78701"
    assert found.fields["Opted In"] == "true"


# field_map -----------------------------------------------------------------------------------


def test_field_map_wins_over_detection() -> None:
    payload = {
        "phone": "555 000 0000",  # the office line
        "Mobile": "555 555 0134",
        "email": "office@example.com",
        "Contact email": "jane@example.com",
        "name": "Acme Ltd",
        "Contact person": "Jane Doe",
    }
    field_map = {"phone": "mobile", "email": "Contact email", "name": "Contact person"}
    found = extract_form_fields(payload, field_map)
    assert_contact(
        found,
        phone="555 555 0134",
        phone_field="mobile",
        full="Jane Doe",
        email="jane@example.com",
    )


def test_field_map_matches_flattened_keys_and_labels() -> None:
    payload = {
        "fields[field_9][title]": "Cel",
        "fields[field_9][value]": "+52 55 1234 5678",
        "q4_name[first]": "Ana",
        "q4_name[last]": "López",
    }
    by_key = extract_form_fields(payload, {"phone": "fields[field_9][value]", "name": "q4_name"})
    assert (by_key.phone, by_key.full_name) == ("+52 55 1234 5678", "Ana López")
    by_label = extract_form_fields(payload, {"phone": "Cel"})
    assert (by_label.phone, by_label.phone_field) == ("+52 55 1234 5678", "Cel")


def test_field_map_naming_a_missing_field() -> None:
    payload = {"phone": "555 555 0134", "first_name": "Jane"}
    found = extract_form_fields(payload, {"phone": "Mobile", "last_name": "Surname"})
    assert (found.phone, found.phone_field) == (None, "Mobile")
    assert (found.first_name, found.last_name, found.full_name) == ("Jane", None, "Jane")


# Detection rules -----------------------------------------------------------------------------


def test_phone_lookalike_keys_are_not_the_phone() -> None:
    payload = {
        "phone_consent": "yes",
        "phone_verified": "true",
        "phone_country": "US",
        "Can we text your phone?": "Yes",
        "hotel": "Hilton",
        "telemarketing_opt_in": "no",
        "Mobile No.": "555 555 0134",
        "email_opt_in": "jane@example.com",
    }
    found = extract_form_fields(payload)
    assert (found.phone, found.phone_field) == ("555 555 0134", "Mobile No.")
    assert found.email == "jane@example.com"  # by shape, as nothing is named email


def test_no_phone_anywhere() -> None:
    found = extract_form_fields({"name": "Jane", "message": "call me"})
    assert (found.phone, found.phone_field, found.full_name) == (None, None, "Jane")


def test_country_code_is_combined_when_the_phone_has_none() -> None:
    split = extract_form_fields({"country_code": "+44", "phone": "020 7946 0000"})
    assert split.phone == "+44 020 7946 0000"
    from_select = extract_form_fields({"dial_code": "United Kingdom (+44)", "tel": "7700 900123"})
    assert from_select.phone == "+44 7700 900123"
    already = extract_form_fields({"countryCode": "1", "phone": "+1 555 555 0134"})
    assert already.phone == "+1 555 555 0134"
    iso_only = extract_form_fields({"phone_country": "GB", "phone": "07700 900123"})
    assert iso_only.phone == "07700 900123"
    compound = extract_form_fields({"phone": {"country": "44", "area": "20", "phone": "79460000"}})
    assert (compound.phone, compound.phone_field) == ("+44 20 79460000", "phone")


def test_email_by_label_words_and_names_by_label_words() -> None:
    payload = {
        "What's your first name?": "Jane",
        "And your last name?": "Doe",
        "Where should we e-mail the quote?": "jane@example.com",
        "Best phone to reach you": "555 555 0134",
    }
    found = extract_form_fields(payload)
    assert_contact(
        found,
        phone="555 555 0134",
        phone_field="Best phone to reach you",
        first="Jane",
        last="Doe",
        full="Jane Doe",
        email="jane@example.com",
    )


# Odd and hostile input -----------------------------------------------------------------------


def test_non_mapping_payloads_give_nothing() -> None:
    for payload in (None, 42, "phone=5555550134", b"\x00", [], [1, 2, 3], True):
        found = extract_form_fields(payload)
        assert found == FormFields(None, None, None, None, None, None, {})


def test_deep_nesting_is_cut_off() -> None:
    payload: dict[str, Any] = {"phone": "555 555 0134"}
    node = payload
    for _ in range(10_000):
        node["next"] = {"x": "y"}
        node = node["next"]
    found = extract_form_fields(payload)
    assert found.phone == "555 555 0134"
    assert max(key.count(".") for key in found.fields) < 10


def test_ten_thousand_fields_are_capped() -> None:
    payload = {f"field_{i}": "x" * 100 for i in range(10_000)} | {"phone": "555"}
    started = time.perf_counter()
    found = extract_form_fields(payload)
    assert len(found.fields) == MAX_FIELDS
    assert time.perf_counter() - started < 2  # generous: the real figure is milliseconds


def test_huge_lists_and_odd_values_do_not_raise() -> None:
    payload = {
        "checkboxes": list(range(1_000_000)),
        "rawRequest": "[" * 200_000,
        "data.json": "{not json",
        "nothing": None,
        "price": 12.5,
        7: "numeric key",
        "blob": "x" * 1_000_000,
        "pairs": [{"name": f"q{i}", "value": i} for i in range(20_000)],
    }
    found = extract_form_fields(payload)
    assert found.fields["checkboxes"].startswith("0, 1, 2")
    assert found.fields["price"] == "12.5"
    assert found.fields["7"] == "numeric key"
    assert len(found.fields["blob"]) == 10_000
    assert len(found.fields) <= MAX_FIELDS


def test_long_and_bracket_bomb_keys_are_cheap() -> None:
    payload = {"a" + "[b]" * 300 + f"[{i}]": "v" for i in range(1_000)}
    payload |= {"x" * 5_000 + str(i): "v" for i in range(1_000)}
    started = time.perf_counter()
    found = extract_form_fields(payload)
    assert len(found.fields) == MAX_FIELDS
    assert max(len(name) for name in found.fields) < 250
    assert time.perf_counter() - started < 2
