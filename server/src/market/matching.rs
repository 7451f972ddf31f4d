//! The built-in matcher, used when no infra agent is there to rank agents for a new task:
//! tag overlap counts double, then shared keywords between the task and the agent's good_at
//! (stop words ignored); reputation only breaks ties. No real overlap, no match.

use std::collections::BTreeSet;

/// How many agents a task is matched to.
pub const TOP_MATCHES: usize = 5;

/// Words too common to say anything about fit.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been",
    "but", "by", "can", "could", "do", "does", "for", "from", "get", "has", "have", "how", "i",
    "if", "in", "into", "is", "it", "its", "just", "like", "make", "me", "more", "my", "need",
    "needs", "no", "not", "of", "on", "one", "or", "our", "out", "please", "so", "some", "such",
    "than", "that", "the", "their", "them", "then", "there", "these", "this", "to", "up", "us",
    "use", "using", "want", "was", "we", "what", "when", "which", "who", "will", "with", "would",
    "you", "your",
];

/// The distinct lower-case words of `text` that can signal a skill: letters, digits, `-`,
/// `_`, `+`, `#` (so `c++`, `c#`, `node-js` survive), not stop words, not single characters.
pub fn keywords(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_alphanumeric() || "-_+#".contains(c)))
        .map(|w| {
            w.trim_matches(|c: char| c == '-' || c == '_')
                .to_lowercase()
        })
        .filter(|w| w.chars().count() > 1 && !STOP_WORDS.contains(&w.as_str()))
        .collect()
}

/// An agent the matcher may choose.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: String,
    pub good_at: Option<String>,
    pub capability_tags: Vec<String>,
    pub reputation: f64,
}

/// The best candidates for a task, best first: at most `TOP_MATCHES`, each with a real
/// overlap (a shared tag or keyword).
pub fn rank(
    task_tags: &[String],
    need: &str,
    context: Option<&str>,
    candidates: &[Candidate],
) -> Vec<String> {
    let tags: BTreeSet<String> = task_tags.iter().map(|t| t.to_lowercase()).collect();
    let mut words = keywords(need);
    words.extend(keywords(context.unwrap_or_default()));
    let mut scored: Vec<(usize, f64, &str)> = candidates
        .iter()
        .filter_map(|c| {
            let agent_tags: BTreeSet<String> =
                c.capability_tags.iter().map(|t| t.to_lowercase()).collect();
            let skills = keywords(c.good_at.as_deref().unwrap_or_default());
            let score = 2 * tags.intersection(&agent_tags).count()
                + words.intersection(&skills).count()
                + tags.intersection(&skills).count();
            (score > 0).then_some((score, c.reputation, c.id.as_str()))
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(b.2)));
    scored
        .into_iter()
        .take(TOP_MATCHES)
        .map(|(_, _, id)| id.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, good_at: &str, tags: &[&str], reputation: f64) -> Candidate {
        Candidate {
            id: id.into(),
            good_at: Some(good_at.into()),
            capability_tags: tags.iter().map(|t| t.to_string()).collect(),
            reputation,
        }
    }

    #[test]
    fn stop_words_and_punctuation_do_not_count() {
        let words = keywords("Review THIS code for the bugs, please: C++ and node-js!");
        let want: BTreeSet<String> = ["review", "code", "bugs", "c++", "node-js"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(words, want);
    }

    #[test]
    fn no_real_overlap_no_match_whatever_the_reputation() {
        let famous = agent("ag-famous", "I do the best work for you", &[], 5.0);
        assert!(rank(&[], "Translate a contract into Dutch", None, &[famous]).is_empty());
    }

    #[test]
    fn tags_count_double_then_keywords_then_reputation() {
        let candidates = [
            agent("ag-keyword", "python security reviews", &[], 1.0),
            agent("ag-tagged", "anything", &["security"], 0.0),
            agent("ag-both", "security audits", &["security"], 0.0),
            agent("ag-tie-low", "python", &[], 1.0),
            agent("ag-tie-high", "python", &[], 4.0),
            agent("ag-none", "gardening", &["plants"], 5.0),
        ];
        let ranked = rank(
            &["security".into()],
            "Audit this Python API",
            None,
            &candidates,
        );
        assert_eq!(
            ranked,
            [
                "ag-both",
                "ag-keyword",
                "ag-tagged",
                "ag-tie-high",
                "ag-tie-low"
            ]
        );
    }

    #[test]
    fn at_most_five() {
        let many: Vec<_> = (0..9)
            .map(|i| agent(&format!("ag-{i}"), "rust", &[], i as f64))
            .collect();
        let ranked = rank(&[], "rust service", None, &many);
        assert_eq!(ranked, ["ag-8", "ag-7", "ag-6", "ag-5", "ag-4"]);
    }
}
