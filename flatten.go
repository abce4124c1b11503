package pynba

// Tags are the tags of a timer or a request, as pynba.timer(**tags) takes
// them. See Flatten for the values allowed.
type Tags map[string]any
