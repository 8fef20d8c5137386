"""What a context declares about itself, and how a composite combines its parts' declarations."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sklearn.utils import Tags


@dataclass(frozen=True)
class ContextTraits:
    """What a context declares about itself, for the estimators, the scorer and the checks.

    A context declares its traits as the class attribute ``_traits``; a context
    built on other contexts computes them in its ``traits()`` method from its
    parts' traits. The traits follow from the context's parameters, so
    ``context.traits()`` answers before ``fit`` (an estimator reads the tags of
    its unfitted context) and after it; a composite reads its fitted parts once
    it is fitted and the parts it was given before. The input and target tags
    of the context (``input_tags.sparse``, ``input_tags.positive_only``,
    ``target_tags.required``), and of an estimator built on it, come from them.

    Parameters
    ----------
    conditional_reproduces_joint : bool, default=True
        Whether ``conditional(X_fit)`` gives the rows of ``joint_`` (normalised
        to sum to 1). False for a context whose fit joint uses what a new point
        lacks (labels, targets): ``ContextureEmbedding.fit_transform`` then
        embeds the fit rows through ``conditional``, as ``transform`` does.
    block_structured : bool, default=False
        Whether the context is made of connected components by design (hard
        labels): the estimator does not warn about its components.
    atoms_are_fit_points : bool, default=False
        Whether atom j is fit row j (kNN, RBF): the joint is square, LiDAR
        applies, and a :class:`~skcontexture.Convolution` walks on from the
        atoms as the points ``X``.
    isolates_rows : bool, default=True
        Whether the context can give a row a context of its own (an outlier whose
        atoms are its own), so that a singular function on a handful of rows
        carries nothing a downstream model can use: the estimators then warn.
        False for the linear kernel of a teacher's outputs, whose functions are
        linear in them: one on a few rows is a direction that a rare feature
        carries, which new rows share.
    disconnected_advice : str, default="use a weaker context ..."
        How to fix a disconnected context graph; it completes the estimator's
        warning "To fix it, ...".
    accepts_sparse : bool, default=False
        Whether ``fit`` and ``conditional`` take a sparse ``X`` (the tag
        ``input_tags.sparse``).
    positive_only : bool, default=False
        Whether ``X`` must be nonnegative (the tag ``input_tags.positive_only``).
    requires_y : bool, default=False
        Whether ``fit`` needs ``y`` (the tag ``target_tags.required``).

    Examples
    --------
    >>> from skcontexture import Convolution, KNNContext, LabelContext
    >>> KNNContext().traits().atoms_are_fit_points
    True
    >>> LabelContext().traits().conditional_reproduces_joint
    False
    >>> Convolution(KNNContext(), LabelContext()).traits().requires_y
    True
    """

    conditional_reproduces_joint: bool = True
    block_structured: bool = False
    atoms_are_fit_points: bool = False
    isolates_rows: bool = True
    disconnected_advice: str = (
        "use a weaker context (for example more neighbours or a wider kernel), "
        "or remove duplicated and isolated points"
    )
    accepts_sparse: bool = False
    positive_only: bool = False
    requires_y: bool = False

    def update_tags(self, tags: "Tags") -> "Tags":
        """Set the input and target tags the traits declare.

        Parameters
        ----------
        tags : sklearn.utils.Tags
            The tags of the context, or of an estimator built on it.

        Returns
        -------
        tags : sklearn.utils.Tags
            The same object, updated.
        """
        tags.input_tags.sparse = self.accepts_sparse
        tags.input_tags.positive_only = self.positive_only
        tags.target_tags.required = self.requires_y
        return tags


def combine_traits(parts: Sequence[ContextTraits], **declared: Any) -> ContextTraits:
    """The traits of a context built on contexts whose traits are ``parts``.

    A trait holds for the composite when it holds for every part
    (``conditional_reproduces_joint``, ``block_structured``,
    ``atoms_are_fit_points``, ``accepts_sparse``) or for any part
    (``isolates_rows``, ``positive_only``, ``requires_y``); the disconnected advice of a single
    part is the composite's. A trait the composite declares by keyword is its
    own, whatever its parts'.

    Parameters
    ----------
    parts : list of ContextTraits
        The traits of the parts (at least one).
    **declared : dict
        Traits of the composite itself, by name.

    Returns
    -------
    traits : ContextTraits
    """
    combined: dict[str, Any] = {
        name: all(getattr(part, name) for part in parts)
        for name in ("conditional_reproduces_joint", "block_structured",
                     "atoms_are_fit_points", "accepts_sparse")
    }
    combined.update(
        (name, any(getattr(part, name) for part in parts))
        for name in ("isolates_rows", "positive_only", "requires_y")
    )
    if len(parts) == 1:
        combined["disconnected_advice"] = parts[0].disconnected_advice
    combined.update(declared)
    return ContextTraits(**combined)
