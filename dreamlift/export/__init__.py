"""Assets out of a trained field: mesh extraction, colour, GLB/OBJ/PLY files and turntable videos.

Public API::

    export_run(run_dir, field, formats=("glb",), ...)  # DIR/mesh.glb (+ optional turntable)
    extract_mesh(field, MeshConfig(...))                # a clean, outward-facing trimesh
    apply_colour(field, mesh, ColourConfig(...), spacing)
    write_mesh(mesh, path, fmt)                          # atomic GLB / OBJ+MTL+PNG / PLY
    write_turntable(field, path, config=TurntableConfig(...))

Conventions: world units, +Y up, front +Z (TOYWORLD.md and glTF agree), albedo as
display values in [0, 1].
"""

from dreamlift.export.formats import MeshFormat, write_mesh
from dreamlift.export.mesh import Decimation, ExtractedMesh, MeshConfig, extract_mesh
from dreamlift.export.run import ExportResult, export_run
from dreamlift.export.texture import ColourConfig, TextureMode, apply_colour
from dreamlift.export.video import TurntableConfig, write_turntable

__all__ = [
    "ColourConfig",
    "Decimation",
    "ExportResult",
    "ExtractedMesh",
    "MeshConfig",
    "MeshFormat",
    "TextureMode",
    "TurntableConfig",
    "apply_colour",
    "export_run",
    "extract_mesh",
    "write_mesh",
    "write_turntable",
]
