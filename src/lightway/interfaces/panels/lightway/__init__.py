"""LightWay staff pages of the authorization policy: staff and roles (/staff/roles/),
customers masked by default with an audited reveal (/staff/customers/)."""
