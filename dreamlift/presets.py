"""Every named preset: a complete :class:`~dreamlift.training.config.TrainConfig` with the source of its values.

``dreamlift presets`` lists them; ``--preset NAME`` picks one (without it, the
prior's default preset: :func:`default_preset_name`). Sources, named in the comments:

* **DreamFusion**: Poole et al., arXiv 2209.14988 (§3, Appendix A.2): 64×64 renders,
  guidance 100, ``t ~ U(0.02, 0.98)``, ``w(t) = σ_t² = 1 − ᾱ_t``, 15,000 steps,
  elevation −10°..90°, azimuth 0..360°.
* **threestudio**: ``configs/dreamfusion-sd.yaml``, ``configs/dreamfusion-if.yaml``,
  ``configs/dreamfusion-if-perpneg.yaml`` and its
  ``diffuse-with-point-light-material`` defaults.
* **stable-dreamfusion**: ``main.py`` argument defaults (``--perpneg``, ``--negative_w -2``,
  ``--front_decay_factor 2``, ``--side_decay_factor 10``, ``--w/--h 64``, ``--iters 10000``,
  ``--known_view_interval 4``, ``--lambda_rgb 1000``, ``--lambda_mask 500``, ``--lambda_depth 10``).
* **Magic123**: Qian et al., arXiv 2306.17843, its run script
  ``scripts/magic123/run_both_priors.sh`` (``--guidance SD zero123 --lambda_guidance 1.0 40
  --guidance_scale 100 5 --t_range 0.2 0.6 --iters 5000``) and threestudio's
  ``configs/magic123-coarse-sd.yaml`` (``lambda_sd 1``, ``lambda_3d_sd 40``, ``lambda_rgb 10000``,
  ``lambda_mask 1000``, elevation −45°..45°, fovy 40°, guidance scales 100 and 5, both t ranges 0.2–0.6).
* **DreamGaussian**: Tang et al., arXiv 2309.16653; its ``configs/text.yaml`` (``iters 500``,
  ``num_pts 5000``, ``position_lr_init 0.001``, ``position_lr_final 0.00002``,
  ``position_lr_delay_mult 0.02``, ``position_lr_max_steps 300``, ``feature_lr 0.01``,
  ``opacity_lr 0.05``, ``scaling_lr 0.005``, ``rotation_lr 0.005``, ``percent_dense 0.01``,
  ``density_start_iter 0``, ``density_end_iter 3000``, ``densification_interval 50``,
  ``opacity_reset_interval 700``, ``densify_grad_threshold 0.01``, ``batch_size 1``, ``radius 2.5``,
  ``fovy 49.1``, ``invert_bg_prob 0.5``), ``main.py`` (``densify_and_prune(threshold, min_opacity=0.01,
  extent=0.5, max_screen_size=1)``; render size 128 → 256 → 512 at 30 % and 60 % of the run; elevation
  −30°..30°) and ``guidance/sd_utils.py`` (guidance scale 100; ``t = (1 − step_ratio)·T`` clipped to 0.02–0.98);
  for images ``configs/image.yaml`` (``position_lr_max_steps 500``, ``percent_dense 0.1``, ``density_start_iter 100``,
  ``densification_interval 100``, ``densify_grad_threshold 0.5``, ``ref_size 256``), ``main.py``'s reference losses
  (``10000·mse(image)``, ``1000·mse(alpha)``, every step) and ``guidance/zero123_utils.py`` (guidance scale 5).
* **ours**: measured in this project (``bench/text.py``, ``bench/image.py``; figures in
  ``docs/measurements.md``).

Distances are in this project's frame (TOYWORLD.md: objects inside radius 0.9), not
the peers'; where a value is ours rather than a peer's, the comment says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from dreamlift.errors import DreamliftError
from dreamlift.guidance.priors import DeepFloydIFConfig, StableDiffusionConfig, TextGuidanceSettings, ToyPriorConfig, ToyViewPriorConfig, Zero123Config
from dreamlift.guidance.settings import TimestepSchedule, Weighting
from dreamlift.refine.config import RefineConfig
from dreamlift.rendering.settings import CameraRanges, ShadingMode, ShadingSchedule
from dreamlift.representation.settings import GaussianLearningRates, GaussianRepresentationConfig
from dreamlift.scene.gaussian_settings import DensifyConfig, GaussianConfig
from dreamlift.scene.settings import BackgroundKind
from dreamlift.training.config import LossWeights, Ramp, TrainConfig
from dreamlift.distillation.image_settings import ImageSettings, ReferenceLoss


def toy_text() -> TrainConfig:
    """The bundled toy prior on a CPU: 32x32 renders, then the refinement stage, about a minute on 2 cores (ours: bench/refine.py, bench/job.py).

    The prior's memory is windowed in elevation as well as azimuth (±15°), so each
    training view is judged against renders from about the same height: without it a
    view from 20° may match a memorised view from −10°, and parts that only show from
    below (a mushroom's cap, a cone's base) never come out right. Both stages render
    from the memory's own views, each with the light its render was made with
    (``views`` and ``refine.lights``): there the prior's low-noise score points at that
    view's render, not at a neighbour's that happens to be lit more alike.
    """
    return TrainConfig(
        prior=ToyPriorConfig(
            elevation_window=15.0,  # ours: mesh IoU per object past issue 5's targets (docs/measurements.md)
            timesteps=TimestepSchedule(0.02, 0.98, 0.3, 1.0),  # ours: t_max annealed 0.98 -> 0.3 over the run
        ),
        steps=600,  # ours: with memorised views and refine.fill_unseen, 600 steps refine as well as 1,200 (bench/refine.py, docs/measurements.md)
        size=32,  # TOYWORLD's native size
        views="memorised",  # ours: each step at one of the prior's memorised views, with its render's light
        learning_rate=0.03,
        mlp_learning_rate=0.003,
        losses=LossWeights(orientation=Ramp(0, 0.0, 0, 0.0), opacity=0.0, entropy=Ramp(0, 0.0, 0, 0.0)),
        refine=RefineConfig(
            enabled=True,  # ours: refinement meets issue 12's targets on the toy bench (bench/refine.py, docs/measurements.md)
            steps=200,  # ours: 300 steps add 0.010 to the mean IoU and 12 s to the job (bench/refine.py, docs/measurements.md)
            initial_level=0.7,  # ours: a fuller start fills the dents stage 1 leaves in flat faces (bench/refine.py, docs/measurements.md)
            sdf_learning_rate=0.003,  # ours: ×3, so the outline trims what the fuller start adds to thin parts in 200 steps
            lights="memorised",  # ours: each memorised camera with its render's light, so the prior points at that view's own render
            fill_unseen=True,  # ours: the hollow stage 1 can leave under a cone's base is filled (bench/refine.py, docs/measurements.md)
            tet_resolution=48,  # ours: a cube of the grid per 1.3 px at 64 px; thin legs come out better and a step costs 22 % less
        ),
    )


def toy_gaussians() -> TrainConfig:
    """The toy preset with 3D Gaussians in place of the NeRF (DreamGaussian's recipe at the toy prior's scale; ours: bench/representations.py).

    The same prior, views, step count and refinement as ``toy``. The Gaussians start as DreamGaussian's do (a ball
    of grey points), but at 32 px each already covers about a pixel, so they are never densified (a split only makes
    them sub-pixel dust the rasteriser's low-pass hides and the mesh cannot), their means move 10× faster
    than DreamGaussian's (its rates are for 500 steps at 128–512 px; here the points must travel to the toy
    world's thin legs and corners in 600 steps at 32 px), and their opacities 2× (the starting ball's Gaussians
    that the score does not want, in a torus's hole or under a table's top, must fade within the run, as
    DreamGaussian's pruning and densification do not do here).
    """
    config = toy_text()
    config.representation = GaussianRepresentationConfig(
        # ours: DreamGaussian's ball (num_pts 5000, radius 0.5) sized to TOYWORLD's objects, fewer points (they export
        # faster), and opaque enough (0.5, DreamGaussian 0.1) that the Gaussians hidden inside stay: the Field's mesh of
        # a red cube is then solid, mesh IoU 0.42 -> 0.72 at opacity 0.1 -> 0.5 (bench/representations.py)
        init=GaussianConfig(
            count=2000, radius=0.6, opacity=0.5,
            colour="grey",  # DreamGaussian: SH from random/255, i.e. grey; a red chair's splats 0.61 -> 0.77 silhouette IoU against random colours (docs/measurements.md)
        ),
        densify=DensifyConfig(grad_threshold=0.01, extent=1.0, max_size=0.2),  # unused: never densified (below)
        densify_from=0,  # ours: never densified or pruned: a red chair's mesh IoU 0.51 densified (8,465 sub-pixel Gaussians) -> 0.71 not (2,000)
        densify_until=0,
        densify_every=100,
        opacity_reset_every=0,  # ours: no reset in a 600-step run (DreamGaussian: 700, after its 500 steps)
        learning_rates=GaussianLearningRates(
            means=1e-2, means_final=2e-4, means_delay_mult=1.0,  # ours: DreamGaussian's 1e-3 -> 2e-5 ×10, no warm-up: a red chair's splats 0.61 -> 0.87 silhouette IoU
            means_steps=600,  # the means decay over the whole run
            opacity_logits=0.1,  # ours: DreamGaussian's 0.05 ×2, so the Gaussians the score does not want fade within the run (a torus's hole, under a table's top): refined mesh IoU torus 0.837 -> 0.974, table 0.726 -> 0.945, chair 0.885 -> 0.908 (bench/representations.py)
        ),
    )
    return config


def dreamgaussian_text() -> TrainConfig:
    """DreamGaussian's generative stage with Stable Diffusion (a GPU is advised): 500 steps of Gaussians by SDS."""
    return TrainConfig(
        prior=StableDiffusionConfig(
            guidance_scale=100.0,  # DreamGaussian guidance/sd_utils.py train_step guidance_scale=100
            timesteps=TimestepSchedule(0.02, 0.98, 0.02, 1.0),  # DreamGaussian anneals t from 0.98 T to 0.02 T (sd_utils: (1 - step_ratio)·T); ours draws t uniformly below that maximum
            weighting=Weighting.SDS,  # DreamGaussian w = 1 - alphas[t]
            dtype="auto",  # DreamGaussian fp16=True
        ),
        representation=GaussianRepresentationConfig(
            init=GaussianConfig(count=5000, radius=0.5),  # DreamGaussian num_pts 5000, in a ball of radius 0.5 (gs_renderer initialize)
            densify=DensifyConfig(
                grad_threshold=0.01,  # DreamGaussian densify_grad_threshold 0.01
                percent_dense=0.01,  # DreamGaussian percent_dense 0.01
                extent=0.5,  # DreamGaussian main.py densify_and_prune(..., extent=0.5, ...)
                min_opacity=0.01,  # DreamGaussian main.py min_opacity=0.01
                max_size=0.1,  # 3DGS prunes scales above 0.1·extent when max_screen_size is given (DreamGaussian passes 1; no screen-size prune here)
            ),
            densify_from=0,  # DreamGaussian density_start_iter 0
            densify_until=3000,  # DreamGaussian density_end_iter 3000 (the whole run)
            densify_every=50,  # DreamGaussian densification_interval 50
            opacity_reset_every=700,  # DreamGaussian opacity_reset_interval 700 (after its 500 steps: never)
            learning_rates=GaussianLearningRates(),  # DreamGaussian's (position 0.001 -> 0.00002 over 300 steps, delay 0.02; feature 0.01, opacity 0.05, scaling 0.005, rotation 0.005)
        ),
        steps=500,  # DreamGaussian iters 500
        size=128,  # DreamGaussian main.py render_resolution 128 for the first 30 %
        size_milestones=((150, 256, 1), (300, 512, 1)),  # DreamGaussian: 256 from 30 %, 512 from 60 % of the run
        batch_size=1,  # DreamGaussian batch_size 1
        cameras=CameraRanges(
            elevation=(-30.0, 30.0),  # DreamGaussian main.py: vertical angle in [-30, 30] for elevation 0
            azimuth=(-180.0, 180.0),  # DreamGaussian np.random.randint(-180, 180)
            radius=(3.0, 3.0),  # ours: TOYWORLD's framing (DreamGaussian radius 2.5 for its radius-0.5 start)
            fovy=(49.1, 49.1),  # DreamGaussian fovy 49.1
        ),
        background=BackgroundKind.RANDOM,  # ours: a random colour per render (DreamGaussian: white or black, invert_bg_prob 0.5)
        shading=ShadingSchedule(albedo_warmup_steps=500),  # DreamGaussian renders albedo (no lighting) throughout
        losses=LossWeights(),  # DreamGaussian: SDS alone
        checkpoint_every=100,
        preview_every=100,
        refine=RefineConfig(enabled=False),  # DreamGaussian's second stage refines a UV texture (not here); refine.enabled=true runs Magic3D's DMTet on it
    )


def dreamgaussian_image() -> TrainConfig:
    """DreamGaussian's image-to-3D stage: Zero-1-to-3 into 3D Gaussians (a GPU is advised), the input view matched every step.

    ``dreamgaussian`` with DreamGaussian's ``configs/image.yaml`` where it differs from ``text.yaml``.
    """
    config = dreamgaussian_text()
    config.prior = Zero123Config(
        guidance_scale=5.0,  # DreamGaussian guidance/zero123_utils.py train_step guidance_scale=5
        timesteps=TimestepSchedule(0.02, 0.98, 0.02, 1.0),  # DreamGaussian Zero123 t_range [0.02, 0.98], annealed as for text (step_ratio); ours draws t uniformly below that maximum
        weighting=Weighting.SDS,  # DreamGaussian w = 1 - alphas[t]
        dtype="auto",  # DreamGaussian: Zero123 in fp16 only
    )
    config.image = ImageSettings(
        loss=ReferenceLoss(
            rgb=10000.0,  # DreamGaussian main.py: 10000 · mse(image, input)
            mask=1000.0,  # DreamGaussian main.py: 1000 · mse(alpha, input mask)
            depth=0.0,  # DreamGaussian image.yaml: no depth term
            normal=0.0,
            every=1,  # DreamGaussian: the input view on every step
            shading=ShadingMode.ALBEDO,  # DreamGaussian renders albedo throughout
        ),
    )
    settings = config.representation
    settings.densify = replace(
        settings.densify,  # the rest as for text (main.py densify_and_prune)
        grad_threshold=0.5,  # DreamGaussian image.yaml densify_grad_threshold 0.5
        percent_dense=0.1,  # DreamGaussian image.yaml percent_dense 0.1
    )
    settings.densify_from = 100  # DreamGaussian image.yaml density_start_iter 100
    settings.densify_every = 100  # DreamGaussian image.yaml densification_interval 100
    settings.learning_rates = replace(settings.learning_rates, means_steps=500)  # DreamGaussian image.yaml position_lr_max_steps 500 (text: 300)
    config.size = 256  # DreamGaussian image.yaml ref_size 256 (the input view's render, and the size Zero123 judges)
    config.size_milestones = ()  # ours: an image run renders at one size, its input view's (DreamGaussian's novel views go 128 -> 512, resized to 256)
    config.cameras = CameraRanges()  # ours: the image runs' own framing (the input view's radius and fovy), as zero123; DreamGaussian radius 2, fovy 49.1
    return config


def toy_image() -> TrainConfig:
    """The toy view prior on a CPU: 32x32 renders, 500 steps, then the refinement stage (ours: bench/image.py).

    The reference view is matched on every step, three times stable-dreamfusion's
    weights: the toy prior's SDS gradient per pixel is about the pixel error, so a
    mean-squared reference error needs weights in the thousands to pull as hard.
    """
    config = toy_text()
    config.steps = 500  # ours (bench/image.py)
    config.prior = ToyViewPriorConfig(
        elevation_window=None,  # ours: measured (bench/image.py) with the azimuth window alone
        timesteps=TimestepSchedule(0.02, 0.98, 0.3, 1.0),
    )
    config.image = ImageSettings(loss=ReferenceLoss(rgb=3000.0, mask=1500.0, every=1))  # ours; every step
    config.views = "random"  # ours: the views bench/image.py measured (docs/measurements.md)
    config.refine = RefineConfig(enabled=True)  # ours: the settings bench/image.py --refine measured: novel-view silhouettes 0.95 vs 0.91 (docs/measurements.md)
    return config


def zero123_image() -> TrainConfig:
    """Zero-1-to-3 (a GPU is advised): stable-dreamfusion's reference weights and interval, 64x64 renders."""
    return TrainConfig(
        prior=Zero123Config(timesteps=TimestepSchedule(0.02, 0.98, 0.5, 0.5)),  # stable-dreamfusion's zero123 t range, annealed to 0.5
        steps=3000,
        size=64,  # stable-dreamfusion --w/--h 64
        image=ImageSettings(loss=ReferenceLoss(rgb=1000.0, mask=500.0, depth=10.0, every=4)),  # stable-dreamfusion lambda_rgb/mask/depth, known_view_interval 4
    )


def magic123_image() -> TrainConfig:
    """Magic123's coarse stage: Zero-1-to-3 (the 3D prior) with Stable Diffusion on the prompt (the 2D prior).

    Magic123 weighs the 3D prior's SDS 40 against the 2D prior's 1; here the image prior's
    SDS counts 1, so every other weight is divided by 40 (the text prior's 1/40, the
    reference losses' 10000/40 and 1000/40): the same balance.
    """
    config = zero123_image()
    config.steps = 5000  # Magic123 run_both_priors.sh --iters 5000 (coarse stage)
    config.prior = Zero123Config(
        guidance_scale=5.0,  # Magic123 --guidance_scale 100 5; threestudio guidance_3d.guidance_scale 5
        timesteps=TimestepSchedule(0.2, 0.6, 0.6, 1.0),  # Magic123 --t_range 0.2 0.6; threestudio min/max_step_percent 0.2/0.6
    )
    config.cameras = CameraRanges(
        elevation=(-45.0, 45.0),  # threestudio magic123-coarse-sd elevation_range [-45, 45]
        azimuth=(-180.0, 180.0),  # threestudio azimuth_range [-180, 180]
        radius=(2.8, 3.2),  # ours: TOYWORLD's framing (threestudio: camera_distance 2.5 for its radius-1 scene)
        fovy=(40.0, 40.0),  # threestudio fovy_range [40, 40]
    )
    config.image.text = TextGuidanceSettings(
        prior=StableDiffusionConfig(
            guidance_scale=100.0,  # Magic123 --guidance_scale 100 (SD); threestudio guidance.guidance_scale 100
            timesteps=TimestepSchedule(0.2, 0.6, 0.6, 1.0),  # Magic123 --t_range 0.2 0.6; threestudio 0.2/0.6
        ),
        weight=1.0 / 40.0,  # Magic123 --lambda_guidance 1.0 40; threestudio lambda_sd 1 / lambda_3d_sd 40
    )
    config.image.loss = ReferenceLoss(
        rgb=10000.0 / 40.0,  # threestudio magic123-coarse-sd lambda_rgb 10000, over lambda_3d_sd 40
        mask=1000.0 / 40.0,  # threestudio lambda_mask 1000, over 40
        depth=0.0,  # threestudio magic123-coarse-sd has no depth term
        normal=0.0,
        every=1,  # threestudio: the reference view on every step
    )
    return config


# The data and system settings the peers share between SD and IF.
def _dreamfusion(prior, refine: RefineConfig) -> TrainConfig:
    return TrainConfig(
        prior=prior,
        refine=refine,
        size=64,  # DreamFusion (64×64 renders); threestudio data.width/height 64; stable-dreamfusion --w/--h 64
        batch_size=1,  # threestudio data.batch_size 1; stable-dreamfusion --batch_size 1
        # Coarse to fine, 64 -> 128 -> 256 px: threestudio's stable-zero123.yaml (random_camera height/width
        # [64, 128, 256], resolution_milestones [200, 300] of max_steps 600), at the same fractions of these
        # 10,000 steps. Its batch sizes [12, 8, 4] are for Zero123; here the text configs' batch of 1 is kept.
        size_milestones=((3333, 128, 1), (5000, 256, 1)),
        steps=10000,  # threestudio trainer.max_steps 10000; stable-dreamfusion --iters 10000 (DreamFusion: 15,000)
        learning_rate=0.01,  # threestudio optimizer Adam lr 0.01 for the geometry (hash grid + MLP), betas (0.9, 0.99)
        mlp_learning_rate=0.01,  # threestudio geometry lr 0.01 (its background gets 0.001; ours shares the MLP group)
        cameras=CameraRanges(
            elevation=(-10.0, 90.0),  # DreamFusion and threestudio elevation_range [-10, 90]
            azimuth=(-180.0, 180.0),  # DreamFusion (all azimuths); stable-dreamfusion phi_range [-180, 180]
            radius=(2.8, 3.2),  # ours: TOYWORLD's framing of radius-0.9 objects (threestudio uses 1.5-2.0 for its smaller blob)
            fovy=(40.0, 70.0),  # threestudio fovy_range [40, 70] (DreamFusion: focal multiplier U(0.7, 1.35))
        ),
        shading=ShadingSchedule(
            albedo_warmup_steps=2000,  # threestudio material.ambient_only_steps 2001
            lambertian_probability=0.375,  # threestudio: diffuse_prob 0.75 × (1 − textureless_prob 0.5)
            textureless_share=0.6,  # threestudio: textureless 0.375 of all, i.e. 0.375 / (1 − 0.375) of the non-diffuse renders
            ambient=(0.1, 0.1),  # threestudio ambient_light_color 0.1, diffuse 0.9
        ),
        losses=LossWeights(
            orientation=Ramp(0, 10.0, 5000, 1000.0),  # threestudio lambda_orient [0, 10., 1000., 5000]
            opacity=1.0,  # threestudio lambda_sparsity 1
            entropy=Ramp(0, 0.0, 0, 0.0),  # threestudio: no entropy term (stable-dreamfusion uses 1e-3)
        ),
    )


def _magic3d_refine(size: int) -> RefineConfig:
    """Stage 2 as Magic3D §4 and threestudio's ``magic3d-refine-sd.yaml`` (stable-dreamfusion's ``--dmtet``), rendering at ``size``."""
    return RefineConfig(
        enabled=True,  # Magic3D: coarse NeRF then the DMTet mesh; stable-dreamfusion runs --dmtet after the NeRF stage
        steps=5000,  # threestudio magic3d-refine trainer.max_steps 5000
        size=size,  # threestudio magic3d-refine-sd data.width/height 512; stable-dreamfusion --dmtet renders 64 x --dmtet_reso_scale 8
        supersample=1,  # the peers rasterise once per pixel (nvdiffrast); 2 would render 1024 px for SD
        tet_resolution=128,  # threestudio isosurface_resolution 128; stable-dreamfusion --tet_grid_size 128
        timesteps=TimestepSchedule(0.02, 0.5, 0.5, 1.0),  # threestudio magic3d-refine min/max_step_percent 0.02 / 0.5
        sdf_learning_rate=0.01,  # threestudio magic3d-refine optimizer Adam lr 0.01, betas (0.9, 0.99)
        deform_learning_rate=0.01,
        colour_learning_rate=0.01,
        normal_consistency=0.5,  # stable-dreamfusion --lambda_mesh_normal 0.5 (mean 1 - cos, as ours)
        laplacian=0.5,  # stable-dreamfusion --lambda_mesh_laplacian 0.5
        preview_size=256,
        checkpoint_every=500,
        preview_every=500,
    )


def stable_diffusion_text(perp_neg: bool = False) -> TrainConfig:
    """DreamFusion with Stable Diffusion, as threestudio's dreamfusion-sd config (Perp-Neg as stable-dreamfusion)."""
    return _dreamfusion(
        StableDiffusionConfig(
            guidance_scale=100.0,  # DreamFusion 100; threestudio dreamfusion-sd guidance_scale 100; stable-dreamfusion 100
            timesteps=TimestepSchedule(0.02, 0.98, 0.98, 1.0),  # DreamFusion U(0.02, 0.98); threestudio min/max_step_percent
            weighting=Weighting.SDS,  # DreamFusion w(t) = σ_t²; threestudio weighting_strategy: sds
            perp_neg=perp_neg,  # stable-dreamfusion --perpneg (off by default)
            view_blend=perp_neg,  # stable-dreamfusion interpolates embeddings only with Perp-Neg
            dtype="auto",  # bf16 on GPUs that have it, else fp16 (threestudio trains with precision: 16-mixed)
        ),
        _magic3d_refine(512),  # SD's native input (threestudio magic3d-refine-sd: 512x512)
    )


def deepfloyd_if_text(perp_neg: bool = False) -> TrainConfig:
    """DreamFusion with DeepFloyd IF stage I, as threestudio's dreamfusion-if(-perpneg) configs."""
    return _dreamfusion(
        DeepFloydIFConfig(
            guidance_scale=20.0,  # threestudio dreamfusion-if guidance_scale 20
            timesteps=TimestepSchedule(0.02, 0.98, 0.98, 1.0),  # threestudio min/max_step_percent 0.02 / 0.98
            weighting=Weighting.SDS,  # threestudio weighting_strategy: sds
            perp_neg=perp_neg,  # threestudio dreamfusion-if-perpneg use_perp_neg: true
            view_blend=perp_neg,
            variant="fp16",  # the hub repo's half-precision files (8.6 GB UNet instead of 17 GB); a user's own --model is read as saved
            dtype="auto",
        ),
        _magic3d_refine(64),  # IF stage I's native input, 64x64 (Magic3D's coarse stage uses eDiff-I's 64-px base model likewise)
    )


def toy_sd_text() -> TrainConfig:
    """sd-dreamfusion through the bundled learned text model ``dreamlift/toy-sd`` (a small Stable Diffusion trained
    on toy-world renders by ``dreamlift train-prior text``): random views, classifier-free guidance, view-dependent
    prompts and the VAE, as a real SD run has them, scaled to the toy world and a CPU.

    Scaled from the real preset, and why: the renders are 64 px, the size the model was trained at (its VAE turns
    them into 16x16 latents, SD's 512 px into 64x64); the cameras and shading are the model's training
    distribution (TOYWORLD.md: elevation −10°..60°, fovy 40°, Lambertian with a jittered head light), since it has
    never seen an overhead, wide-angle, albedo-only or textureless render; the step counts are cut to a CPU's
    minutes, with the learning rates and regularisers' ramps scaled to them.
    """
    config = stable_diffusion_text()
    config.prior.model = "dreamlift/toy-sd"  # the bundled model (dreamlift/models/toy-sd, docs/learned-priors.md)
    # ours, measured (docs/measurements.md, issue 27 item 6): CFG 100 over-saturates this small model's score and
    # 7.5 (SD's sampling default) gives the best shapes (stage-1 mesh IoU 0.50 at 100, 0.55 at 20, 0.58 at 7.5 on cube,
    # snowman and chair); t_max annealed 0.98 -> 0.3 over the run (DreamTime's and threestudio's annealing, the toy
    # preset's schedule) lets the low-noise steps of the second half sharpen the haze that the text's ±45° views leave
    # (0.58 -> 0.66).
    config.prior.guidance_scale = 7.5
    config.prior.timesteps = TimestepSchedule(0.02, 0.98, 0.3, 1.0)
    config.size = 64  # the model's training size (sd-dreamfusion: 64 -> 128 -> 256 px for SD's 512 px)
    config.size_milestones = ()
    config.steps = 600  # ours: the toy preset's count (sd-dreamfusion: 10,000)
    config.learning_rate = 0.03  # ours: the toy preset's rates for 600 steps (threestudio 0.01 for 10,000)
    config.mlp_learning_rate = 0.003
    config.cameras = CameraRanges()  # TOYWORLD's training cameras (sd-dreamfusion: elevation −10..90, fovy 40..70)
    config.shading = ShadingSchedule()  # TOYWORLD's shading, the model's training renders (sd-dreamfusion: albedo warm-up, textureless renders)
    config.losses = LossWeights(
        orientation=Ramp(0, 10.0, 300, 1000.0),  # threestudio lambda_orient [0, 10, 1000, 5000] of 10,000 steps: the ramp over half the run
        opacity=1.0,  # threestudio lambda_sparsity 1
        entropy=Ramp(0, 0.0, 0, 0.0),
    )
    config.refine = RefineConfig(
        enabled=True,  # Magic3D's second stage, as sd-dreamfusion
        steps=200,  # ours: the toy preset's count (threestudio magic3d-refine: 5,000)
        size=64,  # the model's training size (threestudio magic3d-refine-sd: 512, SD's)
        tet_resolution=48,  # ours: the toy preset's grid at 64 px (threestudio 128 at 512 px)
        cameras="random",  # stage 1's ranges: a learned model has no memorised views
        lights="random",
        timesteps=TimestepSchedule(0.02, 0.5, 0.5, 1.0),  # threestudio magic3d-refine min/max_step_percent 0.02 / 0.5
    )
    config.checkpoint_every = 200
    config.preview_every = 300
    return config


def toy_zero123_image() -> TrainConfig:
    """zero123 through the bundled learned view model ``dreamlift/toy-zero123`` (a small Zero-1-to-3 trained on
    pairs of toy-world renders by ``dreamlift train-prior view``), scaled to the toy world and a CPU.

    Scaled from the real preset, and why: the renders are 64 px (the model's training size, as zero123's); the
    step count is cut to a CPU's minutes (3,000 -> 600) and the input view is matched every step instead of every
    4th, so that it is matched as many times as in the real preset's first 2,400 steps; the refinement stage runs
    after it, as in ``toy-image``.
    """
    config = zero123_image()
    config.prior.model = "dreamlift/toy-zero123"  # the bundled model (dreamlift/models/toy-zero123, docs/learned-priors.md)
    config.steps = 600  # ours: a CPU's minutes (zero123: 3,000)
    config.learning_rate = 0.03  # ours: the toy presets' rates for 600 steps
    config.mlp_learning_rate = 0.003
    config.image.loss.every = 1  # ours: every step, so 600 steps match the view as often as zero123's 2,400 do
    config.refine = RefineConfig(enabled=True, cameras="random", lights="random", tet_resolution=48)  # as toy-image, with stage 1's ranges (no memorised views)
    return config


@dataclass(frozen=True)
class Preset:
    """A named, complete run configuration."""

    name: str
    """The ``--preset`` word."""
    kind: str
    """``"text"`` or ``"image"``: which command takes it."""
    description: str
    """One line for ``dreamlift presets``."""
    build: Callable[[], TrainConfig]
    """Makes a fresh config (callers may change it)."""


PRESETS: tuple[Preset, ...] = (
    Preset("toy", "text", "bundled toy prior on a CPU, 600 steps of 32-px renders at its memorised views, then 200 refinement steps at 64 px (about a minute on 2 cores)", toy_text),
    Preset("toy-gaussians", "text", "toy with 3D Gaussians instead of the NeRF (DreamGaussian's recipe at the toy scale), then 200 refinement steps", toy_gaussians),
    Preset("dreamgaussian", "text", "Stable Diffusion into 3D Gaussians, DreamGaussian's text.yaml (500 steps, 128 -> 256 -> 512 px, densify every 50)", dreamgaussian_text),
    Preset("sd-dreamfusion", "text", "Stable Diffusion, DreamFusion as threestudio's dreamfusion-sd (64 -> 128 -> 256 px, 10,000 steps)", stable_diffusion_text),
    Preset("sd-perp-neg", "text", "sd-dreamfusion with Perp-Neg against the Janus failure (stable-dreamfusion --perpneg)", lambda: stable_diffusion_text(True)),
    Preset("if-dreamfusion", "text", "DeepFloyd IF stage I, as threestudio's dreamfusion-if (64 -> 128 -> 256 px, 10,000 steps)", deepfloyd_if_text),
    Preset("if-perp-neg", "text", "if-dreamfusion with Perp-Neg, as threestudio's dreamfusion-if-perpneg", lambda: deepfloyd_if_text(True)),
    Preset("toy-sd", "text", "sd-dreamfusion through dreamlift/toy-sd, a small Stable Diffusion trained here on toy-world renders: random views at 64 px, CFG 7.5, t annealed, 600 + 200 steps on a CPU", toy_sd_text),
    Preset("toy-image", "image", "toy view prior on a CPU, 500 steps with the input view matched every step (about 1 min)", toy_image),
    Preset("dreamgaussian-image", "image", "Zero-1-to-3 into 3D Gaussians, DreamGaussian's image.yaml (500 steps at 256 px, the input view every step, densify every 100)", dreamgaussian_image),
    Preset("zero123", "image", "Zero-1-to-3 with stable-dreamfusion's reference losses every 4th step (64 px, 3,000 steps)", zero123_image),
    Preset("toy-zero123", "image", "zero123 through dreamlift/toy-zero123, a small Zero-1-to-3 trained here on toy-world renders: 64 px, 600 + 300 steps on a CPU", toy_zero123_image),
    Preset("magic123", "image", "Magic123's coarse stage: Zero-1-to-3 plus Stable Diffusion on --prompt, weights 40 : 1 (64 px, 5,000 steps)", magic123_image),
)

_DEFAULTS = {"toy": "toy", "stable-diffusion": "sd-dreamfusion", "deepfloyd-if": "if-dreamfusion", "toy-view": "toy-image", "zero123": "zero123"}
"""The preset each prior runs with when no ``--preset`` is given."""


def preset_names(kind: str | None = None) -> list[str]:
    return [p.name for p in PRESETS if kind is None or p.kind == kind]


def get_preset(name: str, kind: str | None = None) -> Preset:
    """The preset called ``name`` (a one-line error listing the names otherwise)."""
    for preset in PRESETS:
        if preset.name == name:
            if kind is not None and preset.kind != kind:
                raise DreamliftError(f"preset {name!r} is for {preset.kind} runs: choose one of {', '.join(preset_names(kind))}")
            return preset
    raise DreamliftError(f"unknown preset {name!r}: choose one of {', '.join(preset_names(kind))} (dreamlift presets lists them)")


def default_preset_name(prior_name: str) -> str:
    """The preset a prior runs with by default."""
    return _DEFAULTS[prior_name]


def preset_config(name: str, kind: str | None = None) -> TrainConfig:
    """A fresh config of the preset called ``name``."""
    return get_preset(name, kind).build()
