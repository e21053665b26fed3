"""A deep ensemble: K networks of one architecture, trained from different random starts.

    ensemble = Ensemble([pneumonia_net(seed=0), pneumonia_net(seed=1000), pneumonia_net(seed=2000)])
    logits = ensemble(x)            # (N, classes): the mean of the members' logits

Forward (member k maps the batch x to logits z_k, shape N x classes)::

    z = (1 / K) sum_k z_k

Backward: dL/dz_k = (1 / K) dL/dz for every member (the autograd's add and scale ops do it).
Output shape: the members' output shape, (classes,) per image.

Why an ensemble: members that start from different random weights and see the data in a
different order make partly different mistakes, and averaging them cancels part of those
mistakes. Under a shift between training and test data, ensembles are the most reliable of
the simple remedies (Lakshminarayanan et al. 2017; Ovadia et al. 2019, "Can you trust your
model's uncertainty?"). The price is K times the training and inference time.

We average *logits* rather than probabilities, so the ensemble is again a model with one
logit per class: temperature scaling, thresholds and Grad-CAM treat it like any network.
"""

from ..nn.module import Module


class Ensemble(Module):
    """Mean of the logits of ``members`` (a list of models with equal input and output shapes).

    The members become children called ``member0``, ``member1``, ... (their names are set to
    that too, so a summary tells them apart); ``state_dict`` keys are
    ``member0.<layer>.<weight>`` and so on.
    """

    def __init__(self, members, name="ensemble"):
        super().__init__(name=name)
        members = list(members)
        if not members:
            raise ValueError("Ensemble: expected at least one member model, got none")
        for k, member in enumerate(members):
            if not isinstance(member, Module):
                raise TypeError(f"Ensemble: member {k} must be a Module, got {type(member).__name__}")
            member.name = f"member{k}"
            setattr(self, f"member{k}", member)
        first = members[0]
        self.input_shape = getattr(first, "input_shape", None)
        if self.input_shape is not None:
            expected = first.output_shape(self.input_shape)
            for k, member in enumerate(members[1:], 1):
                got = member.output_shape(self.input_shape)
                if got != expected:
                    raise ValueError(f"Ensemble: member {k} outputs {got} for input {self.input_shape}, "
                                     f"member 0 outputs {expected}; members must agree")

    @property
    def members(self):
        """The member models, in order."""
        return self.children()

    def __len__(self):
        return len(self.members)

    def forward(self, x):
        members = self.members
        total = members[0](x)
        for member in members[1:]:
            total = total + member(x)
        return total * (1.0 / len(members))

    def output_shape(self, input_shape=None):
        return self.members[0].output_shape(input_shape if input_shape is not None else self.input_shape)

    def macs(self, input_shape=None):
        """Multiply-accumulates of one forward pass: the members' sum."""
        shape = input_shape if input_shape is not None else self.input_shape
        return sum(member.macs(shape) for member in self.members)
