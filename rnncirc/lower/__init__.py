"""Lowering, model -> circuit: classification into the linear form (`classify`, `linearity`,
`jacobian`), scalarization, the unroll, prefix networks and their structure-aware combines
(`prefix`, `combine`, `linear`, `measure`), and the fixed-width boolean lowering (`boolean`)."""
