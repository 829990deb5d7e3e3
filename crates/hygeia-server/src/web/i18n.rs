//! The pages' words in English and French. One struct holds every text, so a string missing
//! from either language is a compile error, not a blank on a page.

use axum::http::{HeaderMap, header};
use hygeia_core::ValidationStatus;

/// The language a page is rendered in: the user's profile choice, else the browser's first
/// preference among ours, else English.
pub fn choose(profile_language: Option<&str>, headers: &HeaderMap) -> &'static Texts {
    if let Some(texts) = profile_language.and_then(by_code) {
        return texts;
    }
    let accepted = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut preferences: Vec<(f32, &str)> = accepted
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let quality =
                parts.find_map(|p| p.trim().strip_prefix("q=")).map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            Some((quality, tag))
        })
        .collect();
    preferences.sort_by(|a, b| b.0.total_cmp(&a.0));
    preferences.into_iter().find_map(|(_, tag)| by_code(tag.split('-').next().unwrap_or(tag))).unwrap_or(&EN)
}

fn by_code(code: &str) -> Option<&'static Texts> {
    match code.to_ascii_lowercase().as_str() {
        "en" => Some(&EN),
        "fr" => Some(&FR),
        _ => None,
    }
}

pub struct Texts {
    /// The `lang` attribute of the page.
    pub code: &'static str,
    pub home: &'static str,
    pub org_units: &'static str,
    pub sign_out: &'static str,
    pub signed_in_as: &'static str,
    pub account: &'static str,
    pub sign_in_title: &'static str,
    pub sign_in: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub wrong_credentials: &'static str,
    pub projects: &'static str,
    pub no_project: &'static str,
    pub valid_units: &'static str,
    pub forms: &'static str,
    pub recent_tasks: &'static str,
    pub no_task: &'static str,
    pub api_docs: &'static str,
    pub tree: &'static str,
    pub whole_tree: &'static str,
    pub search: &'static str,
    pub search_hint: &'static str,
    pub type_: &'static str,
    pub any_type: &'static str,
    pub status: &'static str,
    pub any_status: &'static str,
    pub valid: &'static str,
    pub new: &'static str,
    pub rejected: &'static str,
    pub geography: &'static str,
    pub any_geography: &'static str,
    pub with_location: &'static str,
    pub with_shape: &'static str,
    pub with_any: &'static str,
    pub with_none: &'static str,
    pub name: &'static str,
    pub parent: &'static str,
    pub location: &'static str,
    pub updated: &'static str,
    pub units_found: &'static str,
    pub page: &'static str,
    pub of: &'static str,
    pub previous: &'static str,
    pub next: &'static str,
    pub map: &'static str,
    pub map_capped: &'static str,
    pub show_on_map: &'static str,
    pub no_match: &'static str,
    pub children: &'static str,
    pub no_children: &'static str,
    pub more_children: &'static str,
    pub groups: &'static str,
    pub no_group: &'static str,
    pub history: &'static str,
    pub no_history: &'static str,
    pub created: &'static str,
    pub by: &'static str,
    pub edit: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub parent_id: &'static str,
    pub no_parent: &'static str,
    pub source_ref: &'static str,
    pub code_label: &'static str,
    pub opening_date: &'static str,
    pub closed_date: &'static str,
    pub no_location: &'static str,
    pub map_hint: &'static str,
    pub location_saved: &'static str,
    pub shape: &'static str,
    pub upload_shape: &'static str,
    pub shape_saved: &'static str,
    pub save_failed: &'static str,
    pub no_permission_to_edit: &'static str,
    pub not_found: &'static str,
    pub outside_parent: &'static str,
}

impl Texts {
    /// (By value or by reference: templates hold either.)
    pub fn status(&self, status: impl std::borrow::Borrow<ValidationStatus>) -> &'static str {
        match status.borrow() {
            ValidationStatus::Valid => self.valid,
            ValidationStatus::New => self.new,
            ValidationStatus::Rejected => self.rejected,
        }
    }
}

pub static EN: Texts = Texts {
    code: "en",
    home: "Home",
    org_units: "Org units",
    sign_out: "Sign out",
    signed_in_as: "Signed in as",
    account: "Account",
    sign_in_title: "Sign in to Hygeia",
    sign_in: "Sign in",
    username: "Username",
    password: "Password",
    wrong_credentials: "Wrong username or password.",
    projects: "Projects",
    no_project: "No project yet.",
    valid_units: "Valid org units",
    forms: "Forms",
    recent_tasks: "Recent tasks",
    no_task: "No task yet.",
    api_docs: "API documentation",
    tree: "Tree",
    whole_tree: "Whole tree",
    search: "Search",
    search_hint: "Name, alias, or ids:1,2 / refs:… / codes:…",
    type_: "Type",
    any_type: "Any type",
    status: "Status",
    any_status: "Any status",
    valid: "Valid",
    new: "New",
    rejected: "Rejected",
    geography: "Geography",
    any_geography: "With or without",
    with_location: "With a location",
    with_shape: "With a shape",
    with_any: "With a location or shape",
    with_none: "Without either",
    name: "Name",
    parent: "Parent",
    location: "Location",
    updated: "Updated",
    units_found: "units",
    page: "Page",
    of: "of",
    previous: "Previous",
    next: "Next",
    map: "Map",
    map_capped: "The map shows the first units only: narrow the filters to see the rest.",
    show_on_map: "Show on the map",
    no_match: "No org unit matches these filters.",
    children: "Children",
    no_children: "No children.",
    more_children: "More children: see them in the table.",
    groups: "Groups",
    no_group: "In no group.",
    history: "History",
    no_history: "No change recorded.",
    created: "created",
    by: "by user",
    edit: "Edit",
    save: "Save",
    saved: "Saved.",
    parent_id: "Parent (id)",
    no_parent: "None (a root)",
    source_ref: "Source reference",
    code_label: "Code",
    opening_date: "Opening date",
    closed_date: "Closed date",
    no_location: "No location.",
    map_hint: "Click the map to set the location, or drag the point.",
    location_saved: "Location saved.",
    shape: "Shape",
    upload_shape: "Replace the shape (GeoJSON file)",
    shape_saved: "Shape saved.",
    save_failed: "Not saved",
    no_permission_to_edit: "You may look at this unit but not change it.",
    not_found: "Not found, or not yours to see.",
    outside_parent: "The location lies outside the parent's shape.",
};

pub static FR: Texts = Texts {
    code: "fr",
    home: "Accueil",
    org_units: "Unités d'organisation",
    sign_out: "Se déconnecter",
    signed_in_as: "Connecté en tant que",
    account: "Compte",
    sign_in_title: "Connexion à Hygeia",
    sign_in: "Se connecter",
    username: "Nom d'utilisateur",
    password: "Mot de passe",
    wrong_credentials: "Nom d'utilisateur ou mot de passe incorrect.",
    projects: "Projets",
    no_project: "Aucun projet pour l'instant.",
    valid_units: "Unités d'organisation validées",
    forms: "Formulaires",
    recent_tasks: "Tâches récentes",
    no_task: "Aucune tâche pour l'instant.",
    api_docs: "Documentation de l'API",
    tree: "Arborescence",
    whole_tree: "Toute l'arborescence",
    search: "Rechercher",
    search_hint: "Nom, alias, ou ids:1,2 / refs:… / codes:…",
    type_: "Type",
    any_type: "Tous les types",
    status: "Statut",
    any_status: "Tous les statuts",
    valid: "Validée",
    new: "Nouvelle",
    rejected: "Rejetée",
    geography: "Géographie",
    any_geography: "Avec ou sans",
    with_location: "Avec une position",
    with_shape: "Avec un contour",
    with_any: "Avec une position ou un contour",
    with_none: "Sans l'un ni l'autre",
    name: "Nom",
    parent: "Parent",
    location: "Position",
    updated: "Modifiée",
    units_found: "unités",
    page: "Page",
    of: "sur",
    previous: "Précédente",
    next: "Suivante",
    map: "Carte",
    map_capped: "La carte ne montre que les premières unités : affinez les filtres pour voir les autres.",
    show_on_map: "Voir sur la carte",
    no_match: "Aucune unité d'organisation ne correspond à ces filtres.",
    children: "Enfants",
    no_children: "Aucun enfant.",
    more_children: "D'autres enfants : voyez-les dans le tableau.",
    groups: "Groupes",
    no_group: "Dans aucun groupe.",
    history: "Historique",
    no_history: "Aucune modification enregistrée.",
    created: "création",
    by: "par l'utilisateur",
    edit: "Modifier",
    save: "Enregistrer",
    saved: "Enregistré.",
    parent_id: "Parent (id)",
    no_parent: "Aucun (une racine)",
    source_ref: "Référence de la source",
    code_label: "Code",
    opening_date: "Date d'ouverture",
    closed_date: "Date de fermeture",
    no_location: "Pas de position.",
    map_hint: "Cliquez sur la carte pour placer la position, ou déplacez le point.",
    location_saved: "Position enregistrée.",
    shape: "Contour",
    upload_shape: "Remplacer le contour (fichier GeoJSON)",
    shape_saved: "Contour enregistré.",
    save_failed: "Non enregistré",
    no_permission_to_edit: "Vous pouvez consulter cette unité mais pas la modifier.",
    not_found: "Introuvable, ou hors de votre périmètre.",
    outside_parent: "La position est hors du contour du parent.",
};

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accepting(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_profile_wins_then_the_browser_by_quality_then_english() {
        assert_eq!(choose(Some("fr"), &accepting("en-GB")).code, "fr");
        assert_eq!(choose(None, &accepting("de-DE,fr;q=0.8,en;q=0.5")).code, "fr");
        assert_eq!(choose(None, &accepting("en;q=0.3,fr-BE;q=0.9")).code, "fr");
        assert_eq!(choose(None, &accepting("de, es")).code, "en");
        assert_eq!(choose(Some("xx"), &HeaderMap::new()).code, "en");
        assert_eq!(choose(None, &accepting("fr;q=bogus, en")).code, "en");
    }
}
