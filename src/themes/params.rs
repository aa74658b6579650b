//! The parameters of a theme fit, validated before any work is done (linfa's `ParamGuard`).

use linfa::ParamGuard;

use super::guided::{GuideBars, BARS};

/// Defaults shared by the library and the command line.
pub const DEFAULT_SEED: u64 = 42;
pub const DEFAULT_KEYWORDS: usize = 8;
pub const MAX_KEYWORDS: usize = 50;
pub const DEFAULT_MIN_POINTS: usize = 3;

/// How many themes to look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThemeCount {
    Fixed(usize),
    /// The finest grain over [`super::auto_k_range`] whose every theme comes back in bootstrap
    /// re-fits (see [`super::KSelection`]).
    Auto,
}

/// How paragraphs are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// k-means: every paragraph joins a theme.
    #[serde(rename = "kmeans")]
    #[cfg_attr(feature = "cli", value(name = "kmeans"))]
    KMeans,
    /// DBSCAN: dense groups only; the rest are outliers.
    Density,
}

/// A parameter outside what a fit can use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("the number of themes must be at least 1")]
    ZeroThemes,
    #[error("keywords per theme must be between 1 and {MAX_KEYWORDS} (got {0})")]
    Keywords(usize),
    #[error("a dense group needs at least 1 neighbour per paragraph (min_points is 0)")]
    ZeroMinPoints,
    #[error("the theme tree has 1 or 2 levels (got depth {0})")]
    Depth(usize),
    #[error("an outlier budget must be from 0% to under 100% (got {:.1}%)", .0 * 100.0)]
    OutlierBudget(f32),
    #[error("an outlier budget applies to the density method only (k-means leaves no outliers)")]
    OutliersWithoutDensity,
    #[error("a theme name is empty (give each --theme some words)")]
    EmptyThemeName,
    #[error("the theme name \"{0}\" is given twice")]
    RepeatedThemeName(String),
    #[error("a guided theme's bars are cosines from -1 to 1 (got name {name}, member {member})")]
    GuideBars { name: f32, member: f32 },
}

/// Parameters that passed [`ParamGuard::check`]: what [`super::ThemeModel::fit`] takes.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidThemeParams {
    count: ThemeCount,
    method: Method,
    seed: u64,
    keywords: usize,
    min_points: usize,
    depth: usize,
    max_outliers: Option<f32>,
    names: Vec<String>,
    bars: GuideBars,
}

impl ValidThemeParams {
    pub fn count(&self) -> ThemeCount {
        self.count
    }
    pub fn method(&self) -> Method {
        self.method
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn keywords(&self) -> usize {
        self.keywords
    }
    pub fn min_points(&self) -> usize {
        self.min_points
    }
    pub fn depth(&self) -> usize {
        self.depth
    }
    pub fn max_outliers(&self) -> Option<f32> {
        self.max_outliers
    }
    /// The names of guided themes, in the order given (empty: no guided themes).
    pub fn names(&self) -> &[String] {
        &self.names
    }
    pub fn guide_bars(&self) -> GuideBars {
        self.bars
    }
    /// The same parameters without guided themes: what the paragraphs no name gathered are
    /// themed with.
    pub fn unguided(&self) -> Self {
        Self {
            names: Vec::new(),
            ..self.clone()
        }
    }
}

/// Parameters of a theme fit, built with chained setters and checked with
/// [`ParamGuard::check`]:
///
/// ```
/// use themescope::ParamGuard;
/// use themescope::themes::{Method, ThemeCount, ThemeParams};
///
/// let params = ThemeParams::new().count(ThemeCount::Fixed(4)).method(Method::KMeans).check()?;
/// assert_eq!(params.count(), ThemeCount::Fixed(4));
/// assert!(ThemeParams::new().keywords(0).check().is_err());
/// # Ok::<(), themescope::themes::ParamError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ThemeParams(ValidThemeParams);

impl Default for ThemeParams {
    fn default() -> Self {
        Self(ValidThemeParams {
            count: ThemeCount::Auto,
            method: Method::KMeans,
            seed: DEFAULT_SEED,
            keywords: DEFAULT_KEYWORDS,
            min_points: DEFAULT_MIN_POINTS,
            depth: 2,
            max_outliers: None,
            names: Vec::new(),
            bars: BARS,
        })
    }
}

impl ThemeParams {
    /// k chosen automatically, k-means, the default seed and keyword count.
    pub fn new() -> Self {
        Self::default()
    }
    pub fn count(mut self, count: ThemeCount) -> Self {
        self.0.count = count;
        self
    }
    pub fn method(mut self, method: Method) -> Self {
        self.0.method = method;
        self
    }
    /// Seed of the Ward tree's sample: the same input and seed give the same themes.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
    /// Keywords per theme (the label comes first).
    pub fn keywords(mut self, keywords: usize) -> Self {
        self.0.keywords = keywords;
        self
    }
    /// For the density method: neighbours a paragraph needs to be in a dense group.
    pub fn min_points(mut self, min_points: usize) -> Self {
        self.0.min_points = min_points;
        self
    }
    /// For the density method: the largest share of paragraphs (0 to below 1) left as outliers;
    /// the radius is chosen among those that keep to it.
    pub fn max_outliers(mut self, share: Option<f32>) -> Self {
        self.0.max_outliers = share;
        self
    }
    /// Levels of the theme tree: 1, themes only; 2 (the default), themes and their sub-themes.
    pub fn depth(mut self, depth: usize) -> Self {
        self.0.depth = depth;
        self
    }
    /// Guided themes: each name becomes a theme of the paragraphs nearer it than any other
    /// name, above [`GuideBars`] (see [`super::guided`]); the rest are themed as without names.
    ///
    /// ```
    /// use themescope::ParamGuard;
    /// use themescope::themes::ThemeParams;
    ///
    /// let params = ThemeParams::new().names(["security guarantees", "exclusion from the talks"]).check()?;
    /// assert_eq!(params.names().len(), 2);
    /// assert!(ThemeParams::new().names(["talks", " talks "]).check().is_err());
    /// # Ok::<(), themescope::themes::ParamError>(())
    /// ```
    pub fn names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.0.names = names
            .into_iter()
            .map(|n| n.into().trim().to_string())
            .collect();
        self
    }
    /// The bars a guided theme's name and members must reach (default [`BARS`]).
    pub fn guide_bars(mut self, bars: GuideBars) -> Self {
        self.0.bars = bars;
        self
    }
}

impl ParamGuard for ThemeParams {
    type Checked = ValidThemeParams;
    type Error = ParamError;

    fn check_ref(&self) -> Result<&ValidThemeParams, ParamError> {
        let p = &self.0;
        if p.count == ThemeCount::Fixed(0) {
            return Err(ParamError::ZeroThemes);
        }
        if !(1..=MAX_KEYWORDS).contains(&p.keywords) {
            return Err(ParamError::Keywords(p.keywords));
        }
        if p.min_points == 0 {
            return Err(ParamError::ZeroMinPoints);
        }
        if !(1..=2).contains(&p.depth) {
            return Err(ParamError::Depth(p.depth));
        }
        if let Some(share) = p.max_outliers {
            if !(0.0..1.0).contains(&share) {
                return Err(ParamError::OutlierBudget(share));
            }
            if p.method != Method::Density {
                return Err(ParamError::OutliersWithoutDensity);
            }
        }
        for (i, name) in p.names.iter().enumerate() {
            if name.is_empty() {
                return Err(ParamError::EmptyThemeName);
            }
            if p.names[..i]
                .iter()
                .any(|n| n.to_lowercase() == name.to_lowercase())
            {
                return Err(ParamError::RepeatedThemeName(name.clone()));
            }
        }
        let GuideBars { name, member } = p.bars;
        if !(-1.0..=1.0).contains(&name) || !(-1.0..=1.0).contains(&member) {
            return Err(ParamError::GuideBars { name, member });
        }
        Ok(p)
    }

    fn check(self) -> Result<ValidThemeParams, ParamError> {
        self.check_ref()?;
        Ok(self.0)
    }
}
