result = x + 5
print(result)
