"""Analyses of compiled circuits, above the compiler: op counts and depths (`counts`), exact
formulas in n (`formulas`), depth profiles over many lengths (`profile`), the compile report
(`report`) and the boolean report (`boolean`). Never imports `eval`."""
