def get_var(var_name, prompt, other_vars):
    return {"output": "Order 1042 shipped on Monday."}
