//! The one conversion between a CISA KEV entry as parsed (pw-advisory's [`KevEntry`]) and as
//! stored (pw-store's [`KevRow`]), both ways, every field kept: the import writes what the
//! catalog says and a scan from the database reads the same entry back.

use anyhow::Context;
use pw_advisory::{KevEntry, RansomwareUse};
use pw_store::KevRow;

/// An entry as stored.
pub fn to_row(entry: &KevEntry) -> KevRow {
    KevRow {
        cve_id: entry.cve_id.clone(),
        date_added: entry.date_added.to_string(),
        due_date: entry.due_date.map(|d| d.to_string()),
        vendor_project: entry.vendor_project.clone(),
        product: entry.product.clone(),
        name: entry.vulnerability_name.clone(),
        ransomware: entry.known_ransomware_campaign_use.as_str().to_owned(),
        short_description: entry.short_description.clone(),
        required_action: entry.required_action.clone(),
        notes: entry.notes.clone(),
        cwes: entry.cwes.clone(),
    }
}

/// A stored row as the entry it was imported from.
pub fn to_entry(row: KevRow) -> anyhow::Result<KevEntry> {
    let date = |field: &str, text: &str| {
        text.parse()
            .with_context(|| format!("stored KEV {field} of {} is not a date: {text}", row.cve_id))
    };
    Ok(KevEntry {
        date_added: date("dateAdded", &row.date_added)?,
        due_date: row
            .due_date
            .as_deref()
            .map(|d| date("dueDate", d))
            .transpose()?,
        known_ransomware_campaign_use: RansomwareUse::parse(Some(&row.ransomware)),
        cve_id: row.cve_id,
        vendor_project: row.vendor_project,
        product: row.product,
        vulnerability_name: row.name,
        short_description: row.short_description,
        required_action: row.required_action,
        notes: row.notes,
        cwes: row.cwes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ransomware: RansomwareUse) -> KevEntry {
        KevEntry {
            cve_id: "CVE-2021-44228".into(),
            vendor_project: "Apache".into(),
            product: "Log4j2".into(),
            vulnerability_name: "Apache Log4j2 Remote Code Execution Vulnerability".into(),
            date_added: "2021-12-10".parse().unwrap(),
            due_date: Some("2021-12-24".parse().unwrap()),
            known_ransomware_campaign_use: ransomware,
            short_description: "JNDI features do not protect against attacker-controlled LDAP"
                .into(),
            required_action: "Apply updates per vendor instructions.".into(),
            notes: "https://logging.apache.org/log4j/2.x/security.html".into(),
            cwes: vec!["CWE-20".into(), "CWE-400".into(), "CWE-502".into()],
        }
    }

    #[test]
    fn every_field_survives_the_round_trip() {
        for ransomware in [
            RansomwareUse::Known,
            RansomwareUse::Unknown,
            RansomwareUse::Other("Suspected".into()),
        ] {
            let entry = entry(ransomware);
            let row = to_row(&entry);
            assert_eq!(to_entry(row).unwrap(), entry);
        }
        let mut undated = entry(RansomwareUse::Known);
        undated.due_date = None;
        assert_eq!(to_entry(to_row(&undated)).unwrap(), undated);
    }

    #[test]
    fn a_stored_row_that_is_not_a_date_names_the_entry() {
        let mut row = to_row(&entry(RansomwareUse::Known));
        row.due_date = Some("soon".into());
        let error = format!("{:#}", to_entry(row).unwrap_err());
        assert!(
            error.contains("dueDate of CVE-2021-44228 is not a date: soon"),
            "{error}"
        );
    }
}
