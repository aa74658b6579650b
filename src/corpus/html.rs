//! HTML pages as articles: the page's main text (found by Readability, as Firefox's reader
//! view finds it; else the page without its navigation, headers, footers and asides), cut into
//! headings and paragraphs in reading order, with the page's title first.

use dom_query::{Document, NodeRef};

/// One paragraph or heading of a page's main text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Whitespace collapsed, entities decoded.
    pub text: String,
    /// 1–6 for `<h1>`–`<h6>` and the page's title (1); 0 for a paragraph.
    pub level: u8,
}

impl Block {
    pub fn is_heading(&self) -> bool {
        self.level > 0
    }
}

/// The main text of `html`: the page's title (`og:title`, else `<title>`), then its headings
/// and paragraphs. What is never text (menus, headers, footers, hidden elements, pop-ups) is
/// taken out before Readability looks for the article; link-dense blocks (lists of related
/// stories) are left out after, and so are headings over nothing but such blocks.
pub fn main_text(html: &str) -> Vec<Block> {
    let page = without_furniture(html);
    let title = page_title(&page);
    // Readability recurses over the tree: a page nested deeper than pages are is read whole.
    let article = (nesting(&page) <= MAX_READABILITY_NESTING)
        .then(|| dom_smoothie::Readability::with_document(page, None, None).ok())
        .flatten()
        .and_then(|mut r| r.parse().ok());
    let mut blocks = match article {
        Some(article) => blocks_of(&Document::from(article.content.as_ref())),
        // No article found (a page of short notes, say): the whole page's text.
        None => blocks_of(&without_furniture(html)),
    };
    if !title.is_empty() && blocks.first().is_none_or(|b| b.text != title) {
        blocks.insert(
            0,
            Block {
                text: title,
                level: 1,
            },
        );
    }
    drop_empty_headings(blocks)
}

/// Element nesting up to which Readability runs; real pages nest a few dozen deep.
const MAX_READABILITY_NESTING: usize = 256;

/// How deep elements nest in the page (counted without recursion).
fn nesting(page: &Document) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(page.root(), 0)];
    while let Some((node, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        stack.extend(
            node.children_it(false)
                .filter(|c| c.is_element())
                .map(|c| (c, depth + 1)),
        );
    }
    deepest
}

/// The page with every element that never holds an article's text taken out of its body.
fn without_furniture(html: &str) -> Document {
    let page = Document::from(html);
    if let Some(body) = page.body() {
        let furniture: Vec<_> = body
            .descendants_it()
            .filter(|node| node.is_element() && is_skipped(node, &name_of(node)))
            .collect();
        for node in furniture {
            node.remove_from_parent();
        }
    }
    page
}

/// `og:title`, else `<title>` without a site's name after a last " | ", " – ", " — " or
/// " - " (when 3 words or more are left before it), else nothing.
fn page_title(page: &Document) -> String {
    let og = page.select(r#"meta[property="og:title"]"#).attr("content");
    if let Some(title) = og.map(|t| collapse(&t)).filter(|t| !t.is_empty()) {
        return title;
    }
    let title = collapse(&page.select("head title").text());
    let cut = [" | ", " \u{2013} ", " \u{2014} ", " - "]
        .iter()
        .filter_map(|sep| title.rfind(sep))
        .max();
    match cut {
        Some(at) if title[..at].split_whitespace().count() >= 3 => title[..at].to_string(),
        _ => title,
    }
}

/// Elements that never hold an article's text.
const NOT_TEXT: [&str; 20] = [
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "button", "select", "textarea", "iframe", "svg", "canvas", "object", "embed", "audio", "video",
    "head",
];

/// ARIA roles of navigation, banners, footers, sidebars and pop-ups.
const NOT_TEXT_ROLES: [&str; 9] = [
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "dialog",
    "alertdialog",
    "search",
    "menu",
    "menubar",
];

/// Elements whose text is one paragraph (when no block sits inside them).
const PARAGRAPHS: [&str; 12] = [
    "p",
    "li",
    "blockquote",
    "pre",
    "dt",
    "dd",
    "figcaption",
    "td",
    "th",
    "caption",
    "address",
    "summary",
];

/// Elements that break text into blocks: paragraphs, headings and containers.
const BLOCK_ELEMENTS: [&str; 20] = [
    "div", "section", "article", "main", "ul", "ol", "dl", "table", "tbody", "thead", "tfoot",
    "tr", "figure", "details", "hr", "body", "html", "center", "fieldset", "menu",
];

/// Share of a block's characters inside links above which it is navigation, not text.
const MAX_LINK_SHARE: f64 = 0.5;

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

fn name_of(node: &NodeRef) -> String {
    node.node_name()
        .map(|n| n.to_ascii_lowercase())
        .unwrap_or_default()
}

fn is_block(name: &str) -> bool {
    PARAGRAPHS.contains(&name) || BLOCK_ELEMENTS.contains(&name) || heading_level(name).is_some()
}

/// Left out with everything in it: not text, or hidden.
fn is_skipped(node: &NodeRef, name: &str) -> bool {
    if NOT_TEXT.contains(&name) || node.has_attr("hidden") {
        return true;
    }
    if node
        .attr("aria-hidden")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return true;
    }
    if node
        .attr("role")
        .is_some_and(|role| NOT_TEXT_ROLES.iter().any(|r| role.eq_ignore_ascii_case(r)))
    {
        return true;
    }
    node.attr("style").is_some_and(|style| {
        let style: String = style
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        style.contains("display:none") || style.contains("visibility:hidden")
    })
}

fn blocks_of(page: &Document) -> Vec<Block> {
    let mut blocks = Vec::new();
    let root = page.body().unwrap_or_else(|| page.root());
    walk(&root, &mut blocks, 0);
    blocks
}

/// Nesting below which a subtree's text is taken whole: pages nest a few dozen deep, and a
/// page nested thousands deep must not exhaust the stack.
const MAX_DEPTH: usize = 128;

/// The blocks under `node` in document order; text between blocks (a `<div>` holding text and
/// a `<p>`) is a paragraph of its own.
fn walk(node: &NodeRef, blocks: &mut Vec<Block>, depth: usize) {
    let mut run = Inline::default();
    if depth >= MAX_DEPTH {
        run.add(&node.text(), false);
        run.flush(blocks);
        return;
    }
    for child in node.children_it(false) {
        if child.is_text() {
            run.add(&child.text(), false);
            continue;
        }
        if !child.is_element() {
            continue;
        }
        let name = name_of(&child);
        if is_skipped(&child, &name) {
            continue;
        }
        if name == "br" {
            run.add(" ", false);
            continue;
        }
        if !is_block(&name) {
            // Inline: a link, emphasis, a span — unless a block hides inside it.
            if has_block_inside(&child) {
                run.flush(blocks);
                walk(&child, blocks, depth + 1);
            } else {
                inline_text(&child, &mut run, false, depth + 1);
            }
            continue;
        }
        run.flush(blocks);
        let level = heading_level(&name);
        if (level.is_some() || PARAGRAPHS.contains(&name.as_str())) && !has_block_inside(&child) {
            let mut text = Inline::default();
            inline_text(&child, &mut text, false, depth + 1);
            text.level = level.unwrap_or(0);
            text.flush(blocks);
        } else {
            walk(&child, blocks, depth + 1);
        }
    }
    run.flush(blocks);
}

/// Whether a block element sits anywhere under `node` (a block inside a left-out element
/// counts too: it only makes the walk go one level deeper).
fn has_block_inside(node: &NodeRef) -> bool {
    node.descendants_it()
        .any(|d| d.is_element() && is_block(&name_of(&d)))
}

/// Adds the text under an inline element to `run`, counting what sits inside links.
fn inline_text(node: &NodeRef, run: &mut Inline, in_link: bool, depth: usize) {
    let in_link = in_link || name_of(node) == "a";
    if depth >= MAX_DEPTH {
        run.add(&node.text(), in_link);
        return;
    }
    for child in node.children_it(false) {
        if child.is_text() {
            run.add(&child.text(), in_link);
        } else if child.is_element() {
            let name = name_of(&child);
            if is_skipped(&child, &name) {
                continue;
            }
            if name == "br" {
                run.add(" ", in_link);
            } else {
                inline_text(&child, run, in_link, depth + 1);
            }
        }
    }
}

/// Text gathered for one block, and how much of it was link text.
#[derive(Default)]
struct Inline {
    text: String,
    link_chars: usize,
    level: u8,
}

impl Inline {
    fn add(&mut self, text: &str, in_link: bool) {
        if in_link {
            self.link_chars += text.chars().filter(|&c| !folds(c)).count();
        }
        self.text.push_str(text);
    }

    /// Ends the block: kept unless empty or mostly links.
    fn flush(&mut self, blocks: &mut Vec<Block>) {
        let text = collapse(&self.text);
        let chars = text.chars().filter(|&c| !folds(c)).count();
        let links = std::mem::take(&mut self.link_chars);
        self.text.clear();
        let level = std::mem::take(&mut self.level);
        if chars == 0 || links as f64 > MAX_LINK_SHARE * chars as f64 {
            return;
        }
        blocks.push(Block { text, level });
    }
}

/// Whether `c` is white space a browser folds into one space (a no-break space is kept, as a
/// browser shows it).
fn folds(c: char) -> bool {
    c.is_whitespace() && !matches!(c, '\u{a0}' | '\u{2007}' | '\u{202f}')
}

/// Runs of folding white space as one space, none at the ends.
fn collapse(text: &str) -> String {
    text.split(folds)
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Headings that head no text: followed by nothing, or by a heading of their rank or higher
/// (what is left of a "Related stories" box once its links are gone).
fn drop_empty_headings(blocks: Vec<Block>) -> Vec<Block> {
    let mut kept: Vec<Block> = Vec::with_capacity(blocks.len());
    for block in blocks.into_iter().rev() {
        let heads_nothing = block.is_heading()
            && kept
                .last()
                .is_none_or(|next| next.is_heading() && next.level <= block.level);
        if !heads_nothing {
            kept.push(block);
        }
    }
    kept.reverse();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text and whether it is a heading.
    fn texts(html: &str) -> Vec<(String, bool)> {
        main_text(html)
            .into_iter()
            .map(|b| (b.is_heading(), b.text))
            .map(|(heading, text)| (text, heading))
            .collect()
    }

    #[test]
    fn a_page_without_an_article_loses_its_menus_and_footer() {
        let page = r#"<html><head><title>Notes &amp; queries</title></head><body>
            <nav><a href="/">Home</a> <a href="/a">About</a></nav>
            <div>Plain text &ldquo;between&rdquo; blocks,<br>on two lines.
              <p>A paragraph with <a href="x">one link</a> in a sentence of many words.</p></div>
            <ul><li><a href="1">First other page</a></li><li><a href="2">Second other page</a></li></ul>
            <h2>Further reading</h2>
            <footer>Copyright 2026</footer></body></html>"#;
        assert_eq!(
            texts(page),
            vec![
                ("Notes & queries".to_string(), true),
                (
                    "Plain text \u{201c}between\u{201d} blocks, on two lines.".to_string(),
                    false
                ),
                (
                    "A paragraph with one link in a sentence of many words.".to_string(),
                    false
                ),
            ]
        );
    }

    #[test]
    fn hidden_elements_and_pop_ups_are_not_text() {
        let page = r#"<body><div role="dialog">We use cookies. Accept all?</div>
            <p hidden>Hidden text</p><p style="display: none">Also hidden</p>
            <p aria-hidden="true">Decoration</p><h1>Heading</h1><p>Kept text here.</p></body>"#;
        assert_eq!(
            texts(page),
            vec![
                ("Heading".to_string(), true),
                ("Kept text here.".to_string(), false)
            ]
        );
    }

    #[test]
    fn the_title_is_og_title_else_title_without_the_sites_name() {
        let title = |head: &str| page_title(&Document::from(format!("<head>{head}</head>")));
        assert_eq!(
            title("<title>Allies meet in Brussels today | Daily Post</title>"),
            "Allies meet in Brussels today"
        );
        assert_eq!(
            title("<title>Thread Safety (libffi: the portable foreign function interface library)</title>"),
            "Thread Safety (libffi: the portable foreign function interface library)"
        );
        assert_eq!(
            title("<title>Home - Daily Post</title>"),
            "Home - Daily Post"
        );
        assert_eq!(
            title(r#"<title>x</title><meta property="og:title" content=" The  headline ">"#),
            "The headline"
        );
        assert_eq!(title(""), "");
    }

    #[test]
    fn white_space_folds_but_a_no_break_space_stays() {
        assert_eq!(
            collapse(" a\t\u{b}b\u{2003} c\u{a0}d \u{b}"),
            "a b c\u{a0}d"
        );
    }

    #[test]
    fn a_heading_over_a_deeper_one_is_kept() {
        let blocks = vec![
            Block {
                text: "A".into(),
                level: 1,
            },
            Block {
                text: "B".into(),
                level: 2,
            },
            Block {
                text: "text".into(),
                level: 0,
            },
            Block {
                text: "C".into(),
                level: 2,
            },
            Block {
                text: "D".into(),
                level: 2,
            },
        ];
        let kept: Vec<String> = drop_empty_headings(blocks)
            .into_iter()
            .map(|b| b.text)
            .collect();
        assert_eq!(kept, ["A", "B", "text"]);
    }
}
