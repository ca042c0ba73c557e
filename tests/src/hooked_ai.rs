//! One AI provider wrapper for tests that need a provider which misbehaves on cue
//! (fails one item, fails a stage, holds a call until the test lets it go, answers a
//! rewrite worse, measures each call) and otherwise answers exactly as a real provider.
//!
//! Why one wrapper: each such test used to write its own struct delegating every
//! [`AiProvider`] method by hand, so a method added to the trait (`embed`,
//! `embedding_model` …) was silently left at the trait's default in some of them.
//! [`HookedAi`] delegates every method of the trait to its inner provider; a test
//! implements [`AiHooks`] for what it changes and nothing else.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use igny8_ai::{
    AiError, AiProvider, ArticleOut, ClusterLabel, ClusterOptions, ClusterOut, ClusterPlan, ExistingCluster, IdeaOut,
    ImageOut, ImagePromptOut, KeywordInput, OptimizeOut, OptimizeRequest, Usage,
};

/// A provider call not yet started: what [`AiHooks::around`] wraps.
pub type Work<'a, T> = Pin<Box<dyn Future<Output = Result<T, AiError>> + Send + 'a>>;

/// One call of an [`AiProvider`] method and its arguments, as the hooks see it.
#[derive(Debug, Clone, Copy)]
pub enum Call<'a> {
    /// [`AiProvider::plan_clusters`].
    PlanClusters {
        /// The keywords to group.
        keywords: &'a [KeywordInput],
        /// The site's clusters they may join.
        existing: &'a [ExistingCluster],
        /// The clustering options.
        options: &'a ClusterOptions,
    },
    /// [`AiProvider::name_clusters`].
    NameClusters {
        /// The clusters to name.
        clusters: &'a [ClusterOut],
        /// The keywords their indices point into.
        keywords: &'a [KeywordInput],
    },
    /// [`AiProvider::cluster_keywords`]: the inner provider plans and names itself,
    /// so the hooks see this one call, not its planning and naming calls.
    ClusterKeywords {
        /// The keywords to group.
        keywords: &'a [KeywordInput],
        /// The clustering options.
        options: &'a ClusterOptions,
    },
    /// [`AiProvider::generate_ideas`].
    GenerateIdeas {
        /// The cluster the ideas are for.
        cluster: &'a ClusterOut,
        /// The keywords its indices point into.
        keywords: &'a [KeywordInput],
        /// How many ideas.
        count: usize,
    },
    /// [`AiProvider::generate_article`].
    GenerateArticle {
        /// The idea to write.
        idea: &'a IdeaOut,
        /// The length asked for, in words.
        word_target: u32,
    },
    /// [`AiProvider::generate_image_prompts`].
    GenerateImagePrompts {
        /// The article the prompts are for.
        article: &'a ArticleOut,
        /// The most prompts wanted.
        max: usize,
    },
    /// [`AiProvider::generate_image`].
    GenerateImage {
        /// The text-to-image prompt.
        prompt: &'a str,
        /// Width in pixels (0: the default).
        width: u32,
        /// Height in pixels (0: the default).
        height: u32,
    },
    /// [`AiProvider::optimize_article`].
    OptimizeArticle {
        /// The article and its flagged checks.
        request: &'a OptimizeRequest,
    },
    /// [`AiProvider::embed`].
    Embed {
        /// The texts to embed.
        texts: &'a [String],
    },
}

impl Call<'_> {
    /// The [`AiProvider`] method's name (`generate_ideas` …), for reports.
    pub fn function(&self) -> &'static str {
        match self {
            Call::PlanClusters { .. } => "plan_clusters",
            Call::NameClusters { .. } => "name_clusters",
            Call::ClusterKeywords { .. } => "cluster_keywords",
            Call::GenerateIdeas { .. } => "generate_ideas",
            Call::GenerateArticle { .. } => "generate_article",
            Call::GenerateImagePrompts { .. } => "generate_image_prompts",
            Call::GenerateImage { .. } => "generate_image",
            Call::OptimizeArticle { .. } => "optimize_article",
            Call::Embed { .. } => "embed",
        }
    }
}

/// What a test changes about a provider. Every method's default passes the call
/// through, so a test overrides only what it changes. For one call [`HookedAi`] runs
/// [`AiHooks::around`] over [`AiHooks::before`] followed by the call's own hook
/// ([`AiHooks::optimize_article`] …), which by default asks the inner provider.
#[async_trait]
pub trait AiHooks: Send + Sync {
    /// Runs before every call reaches its own hook; an error is the call's answer
    /// and the inner provider is not asked. The default lets every call through.
    async fn before(&self, call: Call<'_>) -> Result<(), AiError> {
        let _ = call;
        Ok(())
    }

    /// Wraps every call (`work` has not started yet: dropping it asks nobody). The
    /// default runs it as it is.
    fn around<'a, T: Send + 'a>(&'a self, call: Call<'a>, work: Work<'a, T>) -> Work<'a, T> {
        let _ = call;
        work
    }

    /// Answers [`AiProvider::optimize_article`]; the default asks `inner`. The one
    /// call whose answer a test rewrites (a worse rewrite, a refusal).
    async fn optimize_article(
        &self,
        inner: &dyn AiProvider,
        request: &OptimizeRequest,
    ) -> Result<(OptimizeOut, Usage), AiError> {
        inner.optimize_article(request).await
    }
}

/// An [`AiProvider`] that asks `inner` for everything, through `hooks`.
pub struct HookedAi<H> {
    inner: Arc<dyn AiProvider>,
    hooks: H,
}

impl<H: AiHooks> HookedAi<H> {
    /// `inner` (the offline provider, a real server's) seen through `hooks`.
    pub fn new(inner: Arc<dyn AiProvider>, hooks: H) -> Self {
        Self { inner, hooks }
    }

    /// The hooks, for what the test reads back from them (counts, calls seen).
    pub fn hooks(&self) -> &H {
        &self.hooks
    }

    /// One call: `before`, then `work` (the call's own hook), inside `around`.
    async fn run<'a, T: Send + 'a>(&'a self, call: Call<'a>, work: Work<'a, T>) -> Result<T, AiError> {
        let checked: Work<'a, T> = Box::pin(async move {
            self.hooks.before(call).await?;
            work.await
        });
        self.hooks.around(call, checked).await
    }
}

#[async_trait]
impl<H: AiHooks> AiProvider for HookedAi<H> {
    async fn plan_clusters(
        &self,
        keywords: &[KeywordInput],
        existing: &[ExistingCluster],
        options: &ClusterOptions,
    ) -> Result<ClusterPlan, AiError> {
        let call = Call::PlanClusters { keywords, existing, options };
        self.run(call, self.inner.plan_clusters(keywords, existing, options)).await
    }

    async fn name_clusters(
        &self,
        clusters: &[ClusterOut],
        keywords: &[KeywordInput],
    ) -> Result<(Vec<ClusterLabel>, Usage), AiError> {
        let call = Call::NameClusters { clusters, keywords };
        self.run(call, self.inner.name_clusters(clusters, keywords)).await
    }

    async fn cluster_keywords(
        &self,
        keywords: &[KeywordInput],
        options: &ClusterOptions,
    ) -> Result<(Vec<ClusterOut>, Usage), AiError> {
        let call = Call::ClusterKeywords { keywords, options };
        self.run(call, self.inner.cluster_keywords(keywords, options)).await
    }

    async fn generate_ideas(
        &self,
        cluster: &ClusterOut,
        keywords: &[KeywordInput],
        count: usize,
    ) -> Result<(Vec<IdeaOut>, Usage), AiError> {
        let call = Call::GenerateIdeas { cluster, keywords, count };
        self.run(call, self.inner.generate_ideas(cluster, keywords, count)).await
    }

    async fn generate_article(&self, idea: &IdeaOut, word_target: u32) -> Result<(ArticleOut, Usage), AiError> {
        let call = Call::GenerateArticle { idea, word_target };
        self.run(call, self.inner.generate_article(idea, word_target)).await
    }

    async fn generate_image_prompts(
        &self,
        article: &ArticleOut,
        max: usize,
    ) -> Result<(Vec<ImagePromptOut>, Usage), AiError> {
        let call = Call::GenerateImagePrompts { article, max };
        self.run(call, self.inner.generate_image_prompts(article, max)).await
    }

    async fn generate_image(&self, prompt: &str, width: u32, height: u32) -> Result<(ImageOut, Usage), AiError> {
        let call = Call::GenerateImage { prompt, width, height };
        self.run(call, self.inner.generate_image(prompt, width, height)).await
    }

    async fn optimize_article(&self, request: &OptimizeRequest) -> Result<(OptimizeOut, Usage), AiError> {
        let call = Call::OptimizeArticle { request };
        self.run(call, self.hooks.optimize_article(&*self.inner, request)).await
    }

    fn embedding_model(&self) -> Option<String> {
        self.inner.embedding_model()
    }

    async fn embed(&self, texts: &[String]) -> Result<(Vec<Vec<f32>>, Usage), AiError> {
        self.run(Call::Embed { texts }, self.inner.embed(texts)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use igny8_ai::OfflineProvider;
    use std::sync::Mutex;

    /// Refuses ideas, records every call's name around it, rewrites optimize titles.
    #[derive(Default)]
    struct Recorder {
        seen: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl AiHooks for Recorder {
        async fn before(&self, call: Call<'_>) -> Result<(), AiError> {
            match call {
                Call::GenerateIdeas { count, .. } => Err(AiError::InvalidInput(format!("no {count} ideas"))),
                _ => Ok(()),
            }
        }
        fn around<'a, T: Send + 'a>(&'a self, call: Call<'a>, work: Work<'a, T>) -> Work<'a, T> {
            Box::pin(async move {
                let result = work.await;
                self.seen.lock().unwrap().push(format!("{} {}", call.function(), result.is_ok()));
                result
            })
        }
        async fn optimize_article(
            &self,
            inner: &dyn AiProvider,
            request: &OptimizeRequest,
        ) -> Result<(OptimizeOut, Usage), AiError> {
            let (out, usage) = inner.optimize_article(request).await?;
            Ok((OptimizeOut { title: "Hooked".into(), ..out }, usage))
        }
    }

    fn hooked() -> HookedAi<Recorder> {
        HookedAi::new(Arc::new(OfflineProvider::with_year(2026)), Recorder::default())
    }

    #[tokio::test]
    async fn hooks_change_only_what_they_override() {
        let ai = hooked();
        let offline = OfflineProvider::with_year(2026);
        let keywords = vec![
            KeywordInput::new("running shoes", 500),
            KeywordInput::new("best running shoes", 300),
            KeywordInput::new("trail running shoes", 100),
        ];
        let options = ClusterOptions::default();
        let (clusters, _) = ai.cluster_keywords(&keywords, &options).await.unwrap();
        assert_eq!(clusters, offline.cluster_keywords(&keywords, &options).await.unwrap().0);
        let refused = ai.generate_ideas(&clusters[0], &keywords, 3).await;
        assert_eq!(refused, Err(AiError::InvalidInput("no 3 ideas".into())));
        let (ideas, _) = offline.generate_ideas(&clusters[0], &keywords, 1).await.unwrap();
        let article = ai.generate_article(&ideas[0], 300).await.unwrap();
        assert_eq!(article, offline.generate_article(&ideas[0], 300).await.unwrap());
        let request = OptimizeRequest {
            title: article.0.title.clone(),
            meta_description: article.0.meta_description.clone(),
            html: article.0.html.clone(),
            focus_keyphrase: "running shoes".into(),
            language: "en".into(),
            flagged: vec!["keyphrase_in_seo_title".into()],
        };
        let (optimized, _) = ai.optimize_article(&request).await.unwrap();
        assert_eq!(optimized.title, "Hooked");
        assert_eq!(optimized.html, offline.optimize_article(&request).await.unwrap().0.html);
        assert_eq!(ai.embedding_model(), None);
        assert!(matches!(ai.embed(&["x".into()]).await, Err(AiError::Unsupported(_))));
        assert_eq!(
            *ai.hooks().seen.lock().unwrap(),
            [
                "cluster_keywords true",
                "generate_ideas false",
                "generate_article true",
                "optimize_article true",
                "embed false"
            ]
        );
    }
}
