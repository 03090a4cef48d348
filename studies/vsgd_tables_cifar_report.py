"""Report-only facts of ``vsgd-tables-cifar`` (companion of :mod:`studies.vsgd_tables_cifar`,
see :func:`studies.report.companion_module`; not part of the study's trial keys)."""

#: how many runs each published value averages: the CIFAR rows of the paper's Tables 2 and 3
#: are "averaged over ten random initializations" like the MNIST rows
#: (:data:`studies.vsgd_tables_report.PUBLISHED_RUNS`)
PUBLISHED_RUNS = 10
